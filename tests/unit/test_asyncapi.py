"""The AsyncAPI document (issue 16): generated, committed, current, and valid for the official parser.

The parser (``@asyncapi/parser``, exact version in ``tools/asyncapi/package-lock.json``) runs
on Node; ``make test``/``make unit`` install it (``make node-deps``). A checkout that ran
pytest directly gets it installed here once, from the same lock file, so the check never
silently skips: without Node or npm the test fails and says what to install.
"""

from __future__ import annotations

import copy
import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import contract_dir
from topics import INPUT_TOPICS, OUTPUT_TOPICS, TopicNames, all_topics, key_of
from workers.asyncapi import DEFAULT_PATH, asyncapi_document, render
from workers.records import DLT_ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the AsyncAPI check needs Node.js (apt-get install nodejs "
                    "npm; .ci/run does this)")
    return node


def _ensure_parser() -> None:
    """Install the pinned parser from the lock file if this checkout has not yet."""
    if (TOOL / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("@asyncapi/parser is not installed and npm is missing: run `make node-deps`")
    with (TOOL / "package.json").open() as lock:  # one install at a time per checkout
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TOOL / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file():
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=TOOL, capture_output=True, text=True, timeout=300, check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"`make node-deps` (npm ci in tools/asyncapi) failed:\n{done.stderr}")


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = _node()
    _ensure_parser()
    return subprocess.run(
        [node, str(TOOL / "validate.mjs"), str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_committed_document_is_current() -> None:
    assert DEFAULT_PATH.is_file(), "run `claimdesk schemas asyncapi` to create docs/asyncapi.json"
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.json is stale: run `claimdesk schemas asyncapi`"
    )


def test_official_parser_accepts_the_document() -> None:
    done = validate(DEFAULT_PATH)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID asyncapi 3.0.0: 22 channels, 22 operations, 16 messages" in done.stdout
    assert "18 examples checked" in done.stdout
    assert "error" not in done.stdout.replace("examples", "")


def _broken(tmp_path: Path, name: str, change: Any) -> Path:
    doc = copy.deepcopy(asyncapi_document())
    change(doc)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _set_ref(doc: dict[str, Any]) -> None:
    payload = doc["components"]["messages"]["case_reported"]["payload"]
    payload["properties"]["data"] = {"$ref": "#/components/schemas/Nope"}


def _bad_example(doc: dict[str, Any]) -> None:
    example = doc["components"]["messages"]["catastrophe_declared"]["examples"][0]
    example["payload"]["data"]["areas"] = []  # the schema says non-empty


def _bad_header(doc: dict[str, Any]) -> None:
    doc["components"]["messages"]["dead_letter"]["examples"][0]["headers"][
        "claimdesk.error.code"] = "oops"


@pytest.mark.parametrize("change", [_set_ref, _bad_example, _bad_header])
def test_the_check_rejects_a_broken_document(tmp_path: Path, change: Any) -> None:
    done = validate(_broken(tmp_path, change.__name__, change))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVALID" in done.stdout


def test_every_topic_is_a_channel_with_key_partitions_and_messages() -> None:
    doc = asyncapi_document()
    channels = doc["channels"]
    specs = all_topics(TopicNames())
    assert set(channels) == {spec.base for spec in specs}
    for spec in specs:
        channel = channels[spec.base]
        assert channel["address"] == "{prefix}" + spec.base
        kafka = channel["bindings"]["kafka"]
        assert (kafka["topic"], kafka["partitions"]) == (spec.base, spec.partitions)
        assert kafka["topicConfiguration"]["retention.ms"] == spec.retention_ms
    for base in INPUT_TOPICS + OUTPUT_TOPICS:
        for ref in channels[base]["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            assert message["contentType"] == "application/cloudevents+json"
            assert message["bindings"]["kafka"]["key"]["description"] == f"Kafka key: {key_of(base)}."
    actions = {op["channel"]["$ref"].rsplit("/", 1)[1]: op["action"] for op in doc["operations"].values()}
    assert all(actions[b] == "receive" for b in INPUT_TOPICS)
    assert all(actions[b] == "send" for b in OUTPUT_TOPICS)
    assert all(actions[f"{b}.DLT"] == "send" for b in INPUT_TOPICS)


def test_dead_letters_document_the_headers_and_error_codes() -> None:
    message = asyncapi_document()["components"]["messages"]["dead_letter"]
    headers = message["headers"]["properties"]
    assert headers["claimdesk.error.code"]["enum"] == list(DLT_ERROR_CODES)
    assert set(DLT_ERROR_CODES) == {"invalid_json", "invalid_utf8", "too_large", "schema",
                                     "unprocessable"}
    assert {"claimdesk.original.topic", "claimdesk.original.partition",
            "claimdesk.original.offset", "claimdesk.original.size"} <= set(headers)


def test_every_contract_sample_is_an_example() -> None:
    doc = asyncapi_document()
    shown = [ex["payload"] for m in doc["components"]["messages"].values()
             for ex in m.get("examples", []) if "payload" in ex]
    samples = [json.loads(p.read_text(encoding="utf-8")) for p in contract_dir().glob("*.json")]
    assert len(samples) == 17
    assert all(sample in shown for sample in samples)
