"""Decode and validate raw records: one validation pass on the original bytes.

The bytes go straight to the envelope model's fast path (jiter, which checks UTF-8 itself;
see :mod:`schemas._json`). Only a record it refuses is decided again by the reference path
(stdlib JSON), which may still accept it and otherwise gives the errors, examined in the
order of the DLT codes (SPEC §6): not UTF-8 first, then not JSON, then the schema.
"""

from __future__ import annotations

from pydantic import ValidationError

from schemas import INPUT_EVENTS, describe_errors, validate_event_fast
from workers.records import DeadLetter, Incoming, Record

MAX_VALUE_BYTES = 1024 * 1024


def decode_record(base: str, record: Record, *, fast: bool = True) -> Incoming | DeadLetter:
    """Validate ``record`` against the envelope of topic ``base`` (unprefixed name).

    ``fast=False`` takes the reference path only: the behaviour the fast path must equal
    (tests/unit/test_decode_fast.py compares the two).
    """
    value = record.value
    if value is None or not value:
        return DeadLetter(record, "invalid_json", "empty message value")
    if len(value) > MAX_VALUE_BYTES:
        return DeadLetter(record, "too_large", f"value is {len(value)} bytes, limit {MAX_VALUE_BYTES}")
    if fast:
        try:
            return Incoming(record, validate_event_fast(base, value))
        except Exception:  # refused by the fast path, whatever the cause: the reference decides
            pass
    try:
        event = INPUT_EVENTS[base].validate_json_reference(value)
    except (ValidationError, RecursionError) as exc:
        return _dead_letter(record, value, exc)
    return Incoming(record, event)


def _dead_letter(record: Record, value: bytes, exc: ValidationError | RecursionError) -> DeadLetter:
    """The DLT code of a refused value: a non-UTF-8 value is ``invalid_utf8`` whatever failed."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as err:
        return DeadLetter(record, "invalid_utf8", f"value is not UTF-8 (byte {err.start})")
    if isinstance(exc, RecursionError):
        return DeadLetter(record, "invalid_json", "JSON nested too deeply")
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return DeadLetter(record, "invalid_json", "value is not valid JSON")
    return DeadLetter(record, "schema", describe_errors(exc))


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
