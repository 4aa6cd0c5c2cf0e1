"""Value-free descriptions of validation errors, for DLT headers and logs (SPEC §6, §8).

``describe_errors`` names each field and the rule it broke, never the value
that was sent (values may be personal data), in the form of the contract
sample: ``data.line: input should be one of auto, property, cargo, ...``.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = ["describe_error", "describe_errors", "error_location"]

_QUOTED = re.compile(r"'([^']*)'")


def error_location(loc: tuple[int | str, ...]) -> str:
    """Dotted field path: ``("data", "incident", "city") -> "data.incident.city"``.

    List indexes are appended in brackets (``data.missing_documents[0]``); the
    root of the message is ``$``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "$"


def describe_error(error: ErrorDetails) -> str:
    """``<field path>: <rule>`` for one pydantic error, without the input value."""
    message = error["msg"]
    ctx = error.get("ctx") or {}
    if error["type"] in ("enum", "literal_error") and "expected" in ctx:
        choices = _QUOTED.findall(str(ctx["expected"]))
        message = "input should be one of " + ", ".join(choices)
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    elif message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    return f"{error_location(tuple(error['loc']))}: {message}"


def describe_errors(exc: ValidationError, limit: int = 10) -> str:
    """All errors of ``exc`` joined with ``"; "`` (at most ``limit``, then ``"; +N more"``)."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = [describe_error(error) for error in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"+{len(errors) - limit} more")
    return "; ".join(parts)
