"""Lossless JSON decoding for contract models.

pydantic's own JSON parser turns every JSON number with a fraction or an
exponent into an IEEE-754 double before a validator sees it, so ``1e3`` and
``1000`` (or ``1.10000000000000000001`` and ``1.1``) cannot be told apart.
Money must never go through a float (SPEC §2), so contract models decode JSON
with the standard library instead, keeping the source text of every such
number in a :class:`JsonFloat`, and then validate the resulting Python
objects. Decoding failures are reported exactly like pydantic reports them: a
:class:`pydantic_core.ValidationError` with one ``json_invalid`` error at the
root location.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_core import InitErrorDetails, ValidationError

__all__ = ["JsonFloat", "loads"]


class JsonFloat(float):
    """A float decoded from JSON that remembers its exact source text in ``raw``.

    It behaves as an ordinary ``float`` everywhere (pydantic converts it to a
    plain ``float`` for float fields); only the Money validator looks at ``raw``.
    """

    __slots__ = ("raw",)
    raw: str


def _parse_float(text: str) -> JsonFloat:
    value = JsonFloat(text)
    value.raw = text
    return value


_DECODER = json.JSONDecoder(parse_float=_parse_float)

# A \uD800-\uDFFF escape: the only way to get a lone surrogate through json.loads.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_strings(value: Any) -> None:
    """Raise ``UnicodeEncodeError`` if any string in ``value`` holds a lone surrogate."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            key.encode("utf-8")
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def _invalid(title: str, data: str | bytes | bytearray, error: str) -> ValidationError:
    details: InitErrorDetails = {
        "type": "json_invalid",
        "loc": (),
        "input": data,
        "ctx": {"error": error},
    }
    return ValidationError.from_exception_data(title, [details], hide_input=True)


def loads(data: str | bytes | bytearray, title: str = "JSON") -> Any:
    """Decode UTF-8 JSON text without ever turning a number into a float first.

    Numbers with a fraction or exponent become :class:`JsonFloat` (source text
    kept), integers stay ``int``; ``NaN``/``Infinity`` become plain floats (as
    with pydantic's parser) and are rejected by the fields that care.

    Raises:
        ValidationError: one ``json_invalid`` error for invalid UTF-8, invalid
            JSON, lone surrogate escapes or excessive nesting. The message never
            quotes the input.
    """
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid(title, data, f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = _DECODER.decode(text)
        if _SURROGATE_ESCAPE.search(text):
            _check_strings(value)
    except json.JSONDecodeError as exc:
        raise _invalid(title, data, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeEncodeError:
        raise _invalid(title, data, "lone surrogate in string escape") from None
    except RecursionError:
        raise _invalid(title, data, "nesting too deep") from None
    except ValueError:  # e.g. an integer beyond the interpreter's digit limit
        raise _invalid(title, data, "number out of range") from None
    return value
