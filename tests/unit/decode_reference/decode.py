"""Decode and validate raw records: one validation pass on the original bytes."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.errors import describe_errors
from tests.unit.decode_reference.events import INPUT_EVENTS
from workers.records import DeadLetter, Incoming, Record

MAX_VALUE_BYTES = 1024 * 1024


def decode_record(base: str, record: Record) -> Incoming | DeadLetter:
    """Validate ``record`` against the envelope of topic ``base`` (unprefixed name)."""
    value = record.value
    if value is None or not value:
        return DeadLetter(record, "invalid_json", "empty message value")
    if len(value) > MAX_VALUE_BYTES:
        return DeadLetter(record, "too_large", f"value is {len(value)} bytes, limit {MAX_VALUE_BYTES}")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeadLetter(record, "invalid_utf8", f"value is not UTF-8 (byte {exc.start})")
    try:
        event = INPUT_EVENTS[base].model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return DeadLetter(record, "invalid_json", "value is not valid JSON")
        return DeadLetter(record, "schema", describe_errors(exc))
    except RecursionError:
        return DeadLetter(record, "invalid_json", "JSON nested too deeply")
    return Incoming(record, event)


def dlt_headers(dead: DeadLetter) -> list[tuple[str, bytes]]:
    """SPEC §6 headers of a dead-letter record (UTF-8 values, no payload values)."""
    rec = dead.record
    headers = [
        ("claimdesk.error.code", dead.code.encode()),
        ("claimdesk.error.message", dead.message.encode()),
        ("claimdesk.original.topic", rec.topic.encode()),
        ("claimdesk.original.partition", str(rec.partition).encode()),
        ("claimdesk.original.offset", str(rec.offset).encode()),
    ]
    if dead.code == "too_large" and rec.value is not None:
        headers.append(("claimdesk.original.size", str(len(rec.value)).encode()))
    return headers


def dlt_value(dead: DeadLetter) -> bytes:
    """The original bytes, or empty for a value over the size limit."""
    value = dead.record.value or b""
    return b"" if len(value) > MAX_VALUE_BYTES else value
