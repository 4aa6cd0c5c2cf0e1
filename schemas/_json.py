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

Fast path (issue 15): :func:`loads_fast` parses with ``jiter`` (pydantic's own
Rust JSON parser, published as a library) in ``lossless-float`` mode, which
keeps the exact source text of every number with a fraction or exponent in a
``jiter.LosslessFloat``. It is about twice as fast as the standard library and
needs neither a separate UTF-8 decode nor the Python walk for lone surrogates:
jiter itself rejects invalid UTF-8, lone surrogate escapes, control characters
in strings, integers past 4,300 digits and nesting past 200 levels. It is
*stricter* than :func:`loads`, never looser (the differential test
``tests/unit/test_decode_fast.py`` holds the two side by side), and every input
it refuses is decided again by :func:`loads`, the reference, so the errors
reported stay exactly those of the reference. jiter is pinned exactly in
pyproject.toml: the guarantees above are checked for that release only.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jiter
from pydantic_core import InitErrorDetails, ValidationError

__all__ = ["JsonFloat", "LosslessFloat", "loads", "loads_fast"]

#: A number with a fraction or exponent as :func:`loads_fast` returns it (exact text in ``str()``).
LosslessFloat = jiter.LosslessFloat


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


def loads_fast(data: str | bytes | bytearray) -> Any:
    """Decode UTF-8 JSON text with jiter; numbers with a fraction or exponent become
    :data:`LosslessFloat` (``str()`` is the exact source text), ``NaN``/``Infinity`` too.

    Raises:
        ValueError: for anything jiter refuses (then call :func:`loads`, the reference,
            for the error to report); ``UnicodeEncodeError`` for a ``str`` holding a lone
            surrogate.
    """
    if type(data) is not bytes:
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return jiter.from_json(data, float_mode="lossless-float", cache_mode="keys")
