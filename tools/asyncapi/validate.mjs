// Validate an AsyncAPI document with the official parser (@asyncapi/parser), then check
// every message example against its message's payload and headers schemas (ajv), which
// the parser's ruleset does not do for AsyncAPI 3.
// Usage: node tools/asyncapi/validate.mjs FILE
// Prints every diagnostic; exits 1 when any has severity error or an example does not
// match, 2 on bad usage. Warnings and infos are printed but do not fail.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), {
  source: path,
});
const names = ["error", "warning", "info", "hint"];
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === 0) errors += 1;
  console.log(`${names[d.severity] ?? d.severity} ${d.code} at ${(d.path || []).join(".")}: ${d.message}`);
}
if (!document || errors) {
  console.log(`INVALID: ${errors} error(s)`);
  process.exit(1);
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
let examples = 0;
for (const message of document.allMessages()) {
  const checks = [
    ["payload", message.payload()?.json()],
    ["headers", message.headers()?.json()],
  ];
  for (const example of message.examples()) {
    for (const [part, schema] of checks) {
      const value = part === "payload" ? example.payload() : example.headers();
      if (!schema || value === undefined) continue;
      const validate = ajv.compile(schema);
      if (!validate(value)) {
        errors += 1;
        const why = validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
        console.log(`error example ${message.id()}/${example.name()} ${part}: ${why}`);
      }
    }
    examples += 1;
  }
}
if (errors) {
  console.log(`INVALID: ${errors} error(s)`);
  process.exit(1);
}
console.log(
  `VALID asyncapi ${document.version()}: ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.allMessages().length} messages, ` +
    `${examples} examples checked`,
);
