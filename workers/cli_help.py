"""Operator-facing help of the ``claimdesk`` command: descriptions and epilog examples.

Kept out of :mod:`workers.cli` so the parser stays a short list of verbs and options and
the prose an operator reads lives in one place; :func:`apply_help` attaches it to the
built parser (by verb path, e.g. ``"dlt replay"``). ``tests/unit/test_cli_help.py``
requires every verb to have an example.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator

__all__ = ["HELP", "TOP_DESCRIPTION", "TOP_EPILOG", "apply_help", "verbs"]

TOP_DESCRIPTION = """\
claimdesk — the event backbone of a claims customer-service centre: consumes insurer,
desk and payment events from Kafka, applies routing, review, SLA, complaint, callback
and payment rules, keeps Postgres read models (rm_* views) and publishes dispatches,
payouts, notices, callbacks, escalations and alerts."""

TOP_EPILOG = """\
common tasks:
  claimdesk up                          try everything on this machine (embedded stack, simulated traffic)
  claimdesk migrate && claimdesk topics create && claimdesk worker
                                        production start: schema, topics, then one worker per process
  claimdesk roster load adjusters.csv   replace the adjuster roster
  claimdesk dlt replay case-reported    re-publish dead letters that are valid now
  claimdesk report daily --date 2026-11-21
  claimdesk VERB --help                 options and examples of one verb

settings (environment variables; none set = embedded broker and Postgres):
  KAFKA_BOOTSTRAP_SERVERS      broker list host:port[,host:port]
  DATABASE_URL                 postgresql:// URI
  CLAIMDESK_PII_DATABASE_URL   connection of the PII-role publisher (default DATABASE_URL)
  CLAIMDESK_TOPIC_PREFIX       prefix of every topic name (default empty)
  CLAIMDESK_METRICS_PORT       /metrics, /healthz and ops page (default 9108; a free one if taken)
  CLAIMDESK_POLICY_FILE        SLA / routing / threshold overrides (TOML)
  CLAIMDESK_CONSUMER_GROUP     Kafka consumer group (default claimdesk)
  CLAIMDESK_DATA_DIR           embedded stack and local state (default .claimdesk)
  CLAIMDESK_LOG_LEVEL          DEBUG, INFO (default), WARNING, ERROR
  CLAIMDESK_LOG_FORMAT         text (default) or json: one JSON object per line
  CLAIMDESK_PROGRESS_SECONDS   worker progress line interval (default 60)
An unknown CLAIMDESK_* variable or a malformed value stops the command, naming it."""

#: verb path -> (description, epilog with examples)
HELP: dict[str, tuple[str, str]] = {
    "up": (
        "Run everything on one machine: embedded broker and Postgres under "
        "CLAIMDESK_DATA_DIR, migrations, topics, a simulated roster and insurer traffic, "
        "and a worker. Prints a banner with the URLs, then one progress line a minute.",
        "examples:\n"
        "  claimdesk up                         0.5 simulated cases a second\n"
        "  claimdesk up --surge 温州市           with a typhoon-like surge in one city\n"
        "  claimdesk up --rate 5                busier\n"
        "Open http://127.0.0.1:9108/ (ops page); stop with Ctrl-C.",
    ),
    "migrate": (
        "Apply the numbered SQL migrations that are not applied yet (safe to repeat; "
        "several processes at once wait for each other).",
        "examples:\n"
        "  DATABASE_URL=postgresql://claimdesk@db/claims claimdesk migrate",
    ),
    "topics create": (
        "Create every input, output and .DLT topic (with CLAIMDESK_TOPIC_PREFIX); existing "
        "topics are left alone.",
        "examples:\n"
        "  KAFKA_BOOTSTRAP_SERVERS=k1:9092,k2:9092 claimdesk topics create\n"
        "  CLAIMDESK_TOPIC_PREFIX=staging- claimdesk topics create",
    ),
    "worker": (
        "Run the consumers, the SLA sweeper, the surge/backlog monitor and the outbox relay "
        "in this process until Ctrl-C or SIGTERM. Start more processes with the same "
        "settings to scale out; Kafka spreads the partitions.",
        "examples:\n"
        "  KAFKA_BOOTSTRAP_SERVERS=k1:9092 DATABASE_URL=postgresql://claimdesk@db/claims \\\n"
        "    claimdesk worker\n"
        "  CLAIMDESK_LOG_FORMAT=json claimdesk worker     logs for a log shipper\n"
        "  curl -s localhost:9108/healthz                 200 once connected",
    ),
    "dlt replay": (
        "Re-validate the dead letters of an input topic and re-publish the valid ones to the "
        "original topic; a second replay re-publishes nothing.",
        "examples:\n"
        "  claimdesk dlt replay case-reported\n"
        "  claimdesk dlt replay review-completed.DLT",
    ),
    "schemas export": (
        "Write the JSON Schema of every input and output event into DIR.",
        "examples:\n"
        "  claimdesk schemas export ./contract-schemas",
    ),
    "schemas asyncapi": (
        "Write the AsyncAPI 3.0 document of every topic (channels, Kafka keys, CloudEvents "
        "messages with their JSON Schemas and examples, DLT headers).",
        "examples:\n"
        "  claimdesk schemas asyncapi                    regenerate docs/asyncapi.json\n"
        "  claimdesk schemas asyncapi --check            fail if it is out of date\n"
        "  claimdesk schemas asyncapi --out /tmp/a.json",
    ),
    "roster load": (
        "Replace the adjuster roster atomically from CSV (header as in "
        "contract/examples/roster.sample.csv) or JSON. A bad row rejects the whole file with "
        "its line number; adjusters who leave lose their open dispatches to re-routing.",
        "examples:\n"
        "  claimdesk roster load adjusters.csv\n"
        "  claimdesk roster load adjusters.json",
    ),
    "report daily": (
        "Print one Asia/Shanghai day's statistics per insurer, line and province.",
        "examples:\n"
        "  claimdesk report daily                       today so far\n"
        "  claimdesk report daily --date 2026-11-21 --format csv > day.csv",
    ),
    "report weekly": (
        "The weekly supervisor report: intake, on-time rates, callbacks and satisfaction, "
        "the adjuster scorecard.",
        "examples:\n"
        "  claimdesk report weekly --week 2026-W48\n"
        "  claimdesk report weekly --format html -o week.html     one self-contained file",
    ),
    "report monthly": (
        "The monthly supervisor report (as weekly, for a calendar month).",
        "examples:\n"
        "  claimdesk report monthly --month 2026-11 --format html -o nov.html",
    ),
    "simulate": (
        "Publish realistic insurer traffic (cases, dispatches, reviews, complaints, surges).",
        "examples:\n"
        "  claimdesk simulate --cases 5000 --roster-out roster.csv\n"
        "  claimdesk simulate --surge 温州市 --surge-cases 300\n"
        "  claimdesk simulate --live --rate 20             until Ctrl-C",
    ),
    "bench": (
        "Measure throughput, latency and memory against ceilings measured in the same run.",
        "examples:\n"
        "  claimdesk bench\n"
        "  claimdesk bench --smoke                          a small run",
    ),
    "cat declare": (
        "Publish a catastrophe.declared event (巨灾): its areas and occurrence period.",
        "examples:\n"
        "  claimdesk cat declare --code TY-2026-21 --name 台风“杜苏芮” --peril typhoon \\\n"
        "    --area 福建省/泉州市 --area 浙江省 --from 2026-07-27T20:00:00+08:00\n"
        "  claimdesk cat declare --code TY-2026-21 --name 台风“杜苏芮” --peril typhoon \\\n"
        "    --area 福建省 --from 2026-07-27T20:00:00+08:00 --to 2026-07-30T08:00:00+08:00\n"
        "                                     a later declaration replaces the earlier one",
    ),
}


def verbs(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every leaf verb as (path, parser), e.g. ("dlt replay", <parser>)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix}{name}"
                nested = list(verbs(sub, f"{path} "))
                if nested:
                    yield from nested
                else:
                    yield path, sub


def apply_help(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Attach the descriptions and epilogs to ``parser`` and its verbs; returns it."""
    parser.description = TOP_DESCRIPTION
    parser.epilog = TOP_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for path, sub in verbs(parser):
        if path in HELP:
            description, sub.epilog = HELP[path]
            sub.description = textwrap.fill(description, width=88)
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser
