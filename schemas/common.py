"""Shared field types and the base model of the contract (SPEC §2, §3).

Everything here depends on pydantic and the standard library only.

Field types (``typing.Annotated`` aliases usable as pydantic field types):

* :data:`Money` — CNY amount as :class:`~decimal.Decimal`, never via float.
* :data:`Timestamp` — timezone-aware datetime given as RFC 3339 with an offset.
* :data:`Identifier` — a ``case_id``: 1–64 characters of ``[A-Za-z0-9_-]``.
* :data:`RefId` — any other id: 1–128 characters, no whitespace or control chars.
* :data:`Text` — a required short string: 1–256 characters.
* :data:`FreeText` — free text (PII): any length (the 1 MiB message cap applies).
* :data:`ResidentId` — 18-character resident ID number (17 digits + digit/X).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from schemas import _json
from schemas.enums import (
    DECISIONS_BY_STAGE,
    AlertKind,
    ApprovalPath,
    Category,
    Channel,
    Decision,
    DispatchStatus,
    Line,
    Relation,
    ScopeKey,
    Severity,
    Skill,
    Stage,
    Task,
    Urgency,
)

__all__ = [
    "DECISIONS_BY_STAGE",
    "MONEY_MAX",
    "MONEY_PATTERN",
    "AlertKind",
    "ApprovalPath",
    "Category",
    "Channel",
    "ContractModel",
    "Decision",
    "DispatchStatus",
    "FreeText",
    "Identifier",
    "Line",
    "Money",
    "OutputModel",
    "RefId",
    "Relation",
    "ResidentId",
    "ScopeKey",
    "Severity",
    "Skill",
    "Stage",
    "Task",
    "Text",
    "Timestamp",
    "Urgency",
    "format_money",
    "format_timestamp",
]

# --------------------------------------------------------------------------- money

#: Pattern a money *string* must match (SPEC §2).
MONEY_PATTERN = r"^(0|[1-9]\d{0,11})(\.\d{1,2})?$"
#: Largest representable amount (12 integer digits, 2 decimals).
MONEY_MAX = Decimal("999999999999.99")
_MONEY_RE = re.compile(MONEY_PATTERN)
_CENT = Decimal("0.01")
_DIGITS = "0123456789"
_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})
_MONEY_RULE = "must be a non-negative CNY amount with at most 12 integer digits and 2 decimals"


def _money_error(text: str) -> PydanticCustomError:
    """The most specific error for a money text that failed the pattern (no values quoted)."""
    if text.startswith("-"):
        return PydanticCustomError("money_negative", "must not be negative")
    if "e" in text or "E" in text:
        return PydanticCustomError("money_format", "exponent notation is not allowed")
    whole, _, frac = text.partition(".")
    if len(frac) > 2 and frac.isdigit():
        return PydanticCustomError("money_precision", "must have at most 2 decimal places")
    if whole.isdigit() and len(whole.lstrip("0") or "0") > 12:
        return PydanticCustomError("money_too_large", "must be at most 999999999999.99")
    return PydanticCustomError("money_format", _MONEY_RULE)


def _from_text(text: str) -> Decimal:
    if not _MONEY_RE.match(text):
        raise _money_error(text)
    return Decimal(text).quantize(_CENT)


def _parse_money(value: Any) -> Decimal:
    """Validate a money input; result is quantized to exactly 2 decimals.

    Accepts a JSON number (exact source text when decoded by the contract
    models), a string matching :data:`MONEY_PATTERN`, an ``int`` or a
    ``Decimal``. A plain ``float`` (only reachable through pydantic's own JSON
    parser or Python code) is read through its shortest repr, which is exact
    for every value with ≤ 15 significant digits, i.e. every valid amount.
    """
    if type(value) is str:  # the usual case first
        # Canonical "<1-12 ASCII digits, no leading zero>.<2 digits>" without the regex
        # (0.5 µs): strip() removes ASCII digits only, so "." must be all that is left
        # between them; MONEY_PATTERN matches such a text, and with 2 decimals already
        # quantize is the identity.
        size = len(value)
        if (4 <= size <= 15 and value[-3] == "." and value.strip(_DIGITS) == "."
                and (value[0] != "0" or size == 4)):
            return Decimal(value)
        return _from_text(value)
    if isinstance(value, _json.JsonFloat):
        return _from_text(value.raw)
    if isinstance(value, _json.LosslessFloat):  # from the jiter fast path: same text, same rules
        text = str(value)
        if text in _NON_FINITE:  # the reference decoder turns these into plain floats
            raise PydanticCustomError("money_finite", "must be a finite number")
        return _from_text(text)
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, bool):
        raise PydanticCustomError("money_type", "must be a JSON number or a decimal string")
    if isinstance(value, int):
        return _from_text(str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("money_finite", "must be a finite number")
        return _from_text(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError("money_finite", "must be a finite number")
        if value < 0:
            raise PydanticCustomError("money_negative", "must not be negative")
        if value != value.quantize(_CENT):
            raise PydanticCustomError("money_precision", "must have at most 2 decimal places")
        if value > MONEY_MAX:
            raise PydanticCustomError("money_too_large", "must be at most 999999999999.99")
        return value.quantize(_CENT)
    raise PydanticCustomError("money_type", "must be a JSON number or a decimal string")


def format_money(amount: Decimal) -> str:
    """Render an amount with exactly 2 decimals (``Decimal("3200") -> "3200.00"``).

    Raises ``ValueError`` for non-finite amounts or amounts with sub-cent digits
    (rounding money silently would hide a bug upstream).
    """
    if not amount.is_finite():
        raise ValueError("money must be finite")
    cents = amount.quantize(_CENT)
    if cents != amount:
        raise ValueError("money has more than 2 decimal places")
    return f"{cents:f}"


_MONEY_IN_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 999999999999.99},
        {"type": "string", "pattern": MONEY_PATTERN},
    ],
    "description": "CNY amount: JSON number or decimal string, at most 2 decimals; never a float.",
}
_MONEY_OUT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^(0|[1-9]\d{0,11})\.\d{2}$",
    "description": "CNY amount with exactly 2 decimals.",
}

#: CNY amount: Decimal quantized to 0.01; JSON output is a 2-decimal string.
Money = Annotated[
    Decimal,
    PlainValidator(_parse_money, json_schema_input_type=Decimal),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(_MONEY_IN_SCHEMA, mode="validation"),
    WithJsonSchema(_MONEY_OUT_SCHEMA, mode="serialization"),
]

# ----------------------------------------------------------------------- timestamps

#: Accepted range of input timestamps (UTC instant). Outside it a data time is an input
#: error: year 1 or 9999 (with an offset beyond year 1..9999 in UTC) overflows the
#: deadlines and windows computed from it, and Postgres rows that Python cannot read back
#: would stall the monitor; an ancient report time makes the surge monitor close every
#: 10-minute window since then.
EARLIEST_TIMESTAMP = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(2100, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)


# Fast paths of _parse_timestamp; each accepts a subset of what the reference accepts and
# returns the reference's result for it, and leaves everything else to the reference (so
# errors are the reference's). tests/unit/test_decode_fast.py compares them on mutations.
#
# 1. The canonical shape YYYY-MM-DDTHH:MM:SS±HH:MM: 25 ASCII characters whose characters
#    4, 7, ..., 22 are the separators. fromisoformat reads every other position as an ASCII
#    digit (CPython's parse_digits), so when it succeeds _RFC3339 matches, and the string
#    is its own .upper(). Cheaper than any regex (~0.2 µs less per timestamp).
_CANONICAL_SEPARATORS = frozenset({"--T::+:", "--T::-:"})
# 2. Other usual shapes (ASCII digits, upper-case T and Z, fractions): a cheaper regex than
#    _RFC3339 (which matches any Unicode digit), no upper-casing needed.
_RFC3339_FAST = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
_timestamp_fast_match = _RFC3339_FAST.match
_fromisoformat = datetime.fromisoformat


def _parse_timestamp(value: Any) -> datetime:
    """Validate an RFC 3339 date-time string with offset (or an aware datetime from code)."""
    if type(value) is str:
        if len(value) == 25 and value.isascii() and value[4::3] in _CANONICAL_SEPARATORS:
            try:
                parsed = _fromisoformat(value)
            except ValueError:  # a non-digit, or a field out of range: the reference tells which
                return _parse_timestamp_reference(value)
        elif _timestamp_fast_match(value):
            try:
                parsed = _fromisoformat(value)
            except ValueError:
                raise PydanticCustomError(
                    "timestamp_range", "is not a valid date-time (field out of range)"
                ) from None
        else:
            return _parse_timestamp_reference(value)
        # An offset is under 24 h, so a local year 1901..2098 is in range whatever the
        # offset; comparing aware datetimes of different zones costs more than the parse.
        if 1901 <= parsed.year <= 2098:
            return parsed
        return _in_range(parsed)
    return _parse_timestamp_reference(value)


def _in_range(parsed: datetime) -> datetime:
    if not EARLIEST_TIMESTAMP <= parsed < LATEST_TIMESTAMP:
        raise PydanticCustomError(
            "timestamp_range", "must be from 1900-01-01 to before 2100-01-01 (UTC)"
        )
    return parsed


def _parse_timestamp_reference(value: Any) -> datetime:
    """The general path (and the reference of the fast one above)."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise PydanticCustomError("timestamp_naive", "must carry a UTC offset")
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "timestamp_type", "must be an RFC 3339 date-time string with a UTC offset"
        )
    if not _RFC3339.match(value):
        raise PydanticCustomError(
            "timestamp_format",
            "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-11-21T08:00:00+08:00",
        )
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise PydanticCustomError(
            "timestamp_range", "is not a valid date-time (field out of range)"
        ) from None
    return _in_range(parsed)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 / RFC 3339 text with offset; fractional seconds only as needed (ms or µs).

    ``2026-11-21T08:06:10.842+08:00``, ``2026-11-21T14:07:12+08:00``. UTC is
    rendered ``+00:00``. Raises ``ValueError`` for a naive datetime.
    """
    if value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    micro = value.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=spec)


#: Aware datetime; input must be an RFC 3339 string with offset (``Z`` allowed).
#: Naive values, date-only strings and numbers (unix times) are rejected.
Timestamp = Annotated[
    datetime,
    PlainValidator(_parse_timestamp, json_schema_input_type=str),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# ---------------------------------------------------------------- ids and strings

#: A ``case_id``: 1–64 characters of ``[A-Za-z0-9_-]`` (it is also the Kafka key).
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

#: Any other business id (dispatch, review, complaint, adjuster, reviewer):
#: 1–128 characters, no whitespace or control characters.
RefId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f]+$")]

#: A required short string (codes, names, places, phone numbers): 1–256 characters.
Text = Annotated[str, Field(min_length=1, max_length=256)]

#: Free text (descriptions, reasons, addresses): no length limit of its own.
FreeText = str


def _upper(value: str) -> str:
    return value.upper()


#: 18-character resident ID number: 17 digits then a digit or X (``x`` is upper-cased).
ResidentId = Annotated[str, Field(pattern=r"^\d{17}[0-9Xx]$"), AfterValidator(_upper)]

# ------------------------------------------------------------------------- base model


class ContractModel(BaseModel):
    """Base of every contract model: frozen, unknown fields ignored, inputs hidden in errors.

    ``model_validate_json`` is overridden to decode JSON losslessly (see
    :mod:`schemas._json`) and then validate the Python objects, so money is
    never read through a float. Error types for bad JSON stay ``json_invalid``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    #: Whether ``model_validate_json`` first tries the jiter fast path (:func:`_json.loads_fast`).
    #: Only for models without ``float`` fields: pydantic reads a ``LosslessFloat`` there with
    #: ``float()``, not with the reference decoder's parse. The input envelopes turn it on.
    _json_fast_path: ClassVar[bool] = False

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate UTF-8 JSON text; same keyword arguments as ``model_validate``.

        Validation runs in Python mode on the losslessly decoded objects, so do
        not pass ``strict=True`` (Python strict mode wants enum instances).
        With the fast path on, a document it accepts is returned as is (the fast
        path is never looser than the reference, and gives equal objects), and
        any failure of it, whatever the cause, is decided by the reference path,
        so rejects carry exactly the reference's errors.
        """
        if cls._json_fast_path:
            try:
                if kwargs:
                    return cls.model_validate(_json.loads_fast(json_data), **kwargs)
                # model_validate without arguments is exactly this call, minus a Python frame
                event: Self = cls.__pydantic_validator__.validate_python(_json.loads_fast(json_data))
                return event
            except Exception:  # the reference path below decides (and reports) every refusal
                pass
        return cls.validate_json_reference(json_data, **kwargs)

    @classmethod
    def validate_json_reference(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """``model_validate_json`` through the standard-library decoder only: the reference
        of the fast path, and the path that reports why a document is refused."""
        return cls.model_validate(_json.loads(json_data, cls.__name__), **kwargs)


class OutputModel(ContractModel):
    """Base of output ``data`` models: fields with defaults are still always serialized, so
    the serialization-mode JSON Schema lists them as required."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
