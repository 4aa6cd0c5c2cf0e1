"""Differential guard of the fast input decoder (issue 15): the product's ``decode_record``
(jiter fast path, cheaper timestamp and money paths) against its reference path, which the
product keeps (``decode_record(fast=False)``: stdlib JSON + surrogate walk,
``validate_json_reference``; ``_parse_timestamp_reference``; ``_from_text`` for money texts).
Those reference paths are the decoder as it was before the fast path (main 526248f), and
the schema tests (tests/unit/test_schemas*.py) hold them to the contract; comparing with
them rather than with a frozen copy keeps this guard valid when the schemas evolve.
Both decode paths validate with the same models, whose timestamp and money validators
have their own fast paths: those are compared with their references on their own
(``test_timestamp_parser_alone``, ``test_money_parser_alone``).

For every input, both must agree on accept/reject, the DLT code and message, the
``ValidationError`` details of ``model_validate_json`` (type, location, message), and for
an accepted event on the model itself: class, field values *and* their types and reprs
(``Decimal('1.50')`` and ``Decimal('1.5')`` are equal but not the same money text; a
datetime's repr names its tzinfo), and the set of fields given.

Inputs: the contract samples, the bench workload, and Hypothesis mutations of those
(money and timestamp texts, string escapes with lone and paired surrogates, invalid
UTF-8, a BOM, duplicate keys, deep nesting, truncation, any JSON token at any leaf).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bench.workload import build_workload
from schemas import INPUT_EVENTS
from schemas.common import _from_text, _parse_money, _parse_timestamp, _parse_timestamp_reference
from tests.conftest import VENDORED_CONTRACT, contract_dir
from workers.decode import decode_record
from workers.records import DeadLetter, Incoming, Record

TOPICS = sorted(INPUT_EVENTS)
RAW = "\x00RAW\x00"  # placeholder leaf, replaced by a raw JSON token after dumping


# ------------------------------------------------------------------ comparison


def _shape(value: Any) -> Any:
    """A comparable image of a decoded value: classes, reprs, fields given, recursively."""
    if isinstance(value, BaseModel):
        fields = tuple((k, _shape(v)) for k, v in value.__dict__.items())
        return (type(value).__name__, fields, frozenset(value.model_fields_set))
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_shape(v) for v in value))
    return (type(value), repr(value))


def _errors(exc: ValidationError) -> list[tuple[Any, ...]]:
    return [(e["type"], e["loc"], e["msg"]) for e in exc.errors(include_url=False, include_input=False)]


def _validate(validate: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", _shape(validate(raw))
    except ValidationError as exc:
        return "error", (exc.title, _errors(exc))
    except RecursionError:
        return "recursion", None


def _outcome(result: Incoming | DeadLetter) -> tuple[Any, ...]:
    if isinstance(result, DeadLetter):
        return ("dead", result.code, result.message)
    return ("ok", type(result.event).__name__, _shape(result.event), result.event.model_dump())


def assert_same(base: str, raw: bytes) -> tuple[Any, ...]:
    """New and reference decoders agree on ``raw`` for topic ``base``; returns the outcome."""
    record = Record(topic=f"claimdesk.{base}", partition=0, offset=7, key=b"k", value=raw)
    new = _outcome(decode_record(base, record))
    old = _outcome(decode_record(base, record, fast=False))
    assert new == old, (base, raw[:300])
    new_v = _validate(INPUT_EVENTS[base].model_validate_json, raw)
    old_v = _validate(INPUT_EVENTS[base].validate_json_reference, raw)
    assert new_v == old_v, (base, raw[:300])
    return new


# -------------------------------------------------------------------- corpora


def _example_files() -> list[Path]:
    dirs = {contract_dir(), VENDORED_CONTRACT}
    return sorted(p for d in dirs if d.is_dir() for p in d.glob("*.json"))


@cache
def _workload() -> list[tuple[str, bytes]]:
    return [(e.topic, e.value) for e in build_workload(2000).events]


@cache
def _seeds() -> list[tuple[str, dict[str, Any]]]:
    """Valid documents to mutate: the samples of input events and a few of each workload topic."""
    seeds: list[tuple[str, dict[str, Any]]] = []
    types = {str(m.model_fields["type"].annotation.__args__[0]): t  # type: ignore[union-attr]
             for t, m in INPUT_EVENTS.items()}
    for path in _example_files():
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("type") in types:
            seeds.append((types[doc["type"]], doc))
    per_topic: dict[str, int] = {}
    for topic, raw in _workload():
        if per_topic.get(topic, 0) < 5:
            per_topic[topic] = per_topic.get(topic, 0) + 1
            seeds.append((topic, json.loads(raw)))
    return seeds


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value (containers too) below the root."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append((*path, key))
        out.extend(_leaves(value, (*path, key)))
    return out


def _with_raw(doc: dict[str, Any], path: tuple[Any, ...], token: str) -> bytes:
    """``doc`` as JSON with the value at ``path`` replaced by the raw JSON ``token``."""
    doc = json.loads(json.dumps(doc))
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = RAW
    text = json.dumps(doc, ensure_ascii=False)
    return text.replace(json.dumps(RAW), token).encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------- strategies

MONEY_TOKENS = [
    "1e3", "1E3", "1e-2", "1.005", "-0", "-0.0", "0", "0.0", "0.10", "0.1", "10", "1894.27",
    "999999999999.99", "999999999999.995", "1000000000000", "1000000000000.00",
    "0.00000000000000000001", "1.10000000000000000001", "123456789012345678901234567890",
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 4300, "1" * 4301, "-1",
    '" 1.00"', '"1.00\\n"', '"\\u0661.00"', "true", "null", "[]", "{}",
]
MONEY_TOKENS += [json.dumps(token) for token in MONEY_TOKENS if token[0] in "-0123456789NI"]
TIMESTAMP_TEXTS = [
    "2026-12-04T06:00:56+08:00", "2026-12-04T06:00:56Z", "2026-12-04T06:00:56z", "2026-12-04t06:00:56Z",
    "2026-12-04 06:00:56+08:00", "2026-12-04T06:00:56.1+08:00", "2026-12-04T06:00:56.123456789-05:30",
    "2026-12-04T06:00:56.1234567890+08:00", "2026-12-04T06:00:56", "2026-12-04T06:00+08:00",
    "2026-12-04", "2026-12-31T23:59:60Z", "2026-02-30T00:00:00Z", "2026-12-04T24:00:00Z",
    "2026-12-04T06:00:56+24:00", "2026-12-04T06:00:56+23:59", "2026-12-04T06:00:56-23:59",
    "2026-12-04T06:00:56+08", "2026-12-04T06:00:56+0800", "1900-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z", "1899-12-31T23:00:00-01:00", "1899-12-31T23:30:00-00:29",
    "1900-01-01T00:30:00+01:00", "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
    "2100-01-01T00:30:00+01:00", "2099-12-31T23:30:00-01:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00Z", "\u0662\u0660\u0662\u0666-12-04T06:00:56Z",
    "２０２６-12-04T06:00:56Z", "2026-12-04T06:00:56+08:00\n", " 2026-12-04T06:00:56+08:00",
    "2026-W49-5T06:00:56+08:00", "20261204T060056+08:00", "",
]
STRING_TOKENS = [
    '"\\ud800"', '"\\udc00"', '"a\\udfffb"', '"\\ud83d\\ude00"', '"\\ud83d"', '"\\ude00\\ud83d"',
    '"\\uD834\\uDD1E"', '"\\u0000"', '"\\u00e9"', '"é"', '"\\t"', '"\t"', '"\\/"', '"\\x41"',
    '"' + "长" * 300 + '"', '"C-1"', '""', '" "', '"\\u001f"', '"\x7f"',
]
BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe9", b"\xf4\x90\x80\x80", b"\xe4\xb8"]
JSON_TOKENS = [*MONEY_TOKENS, *STRING_TOKENS, "false", "1", "3", "5", "6", "-5", "1.0", "3.0", "[\"a\"]",
               '{"a": 1}', '[{"province": "x"}]']


def _json_number() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A-?(0|[1-9][0-9]{0,18})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")


def _timestamp_text() -> st.SearchStrategy[str]:
    generated = st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,10})?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})?\Z"
    )
    return st.one_of(st.sampled_from(TIMESTAMP_TEXTS), generated, _canonical_like())


@st.composite
def _canonical_like(draw: st.DrawFn) -> str:
    """``YYYY-MM-DDTHH:MM:SS±HH:MM`` (the shape of the first fast path), valid or with 1-2
    characters replaced by anything ASCII (or a Unicode digit): every position probed."""
    when = draw(st.datetimes(datetime(1890, 1, 1), datetime(2110, 12, 31)))
    hours, minutes = draw(st.integers(0, 26)), draw(st.sampled_from([0, 0, 30, 45, 59, 60]))
    text = f"{when:%Y-%m-%dT%H:%M:%S}{draw(st.sampled_from('+-'))}{hours:02d}:{minutes:02d}"
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text) - 1))
        char = draw(st.one_of(st.characters(max_codepoint=127), st.sampled_from("\u0662\uff12\u00b2")))
        text = text[:at] + char + text[at + 1:]
    return text


@st.composite
def _money_like(draw: st.DrawFn) -> str:
    """Digits with a dot somewhere (often 2 from the end), leading zeros, 0-16 characters,
    sometimes one character replaced by a look-alike (Unicode digit, space, newline, sign)."""
    whole = draw(st.from_regex(r"\A0{0,2}[0-9]{0,14}\Z"))
    frac = draw(st.sampled_from(["", ".", ".1", ".10", ".00", ".99", ".123", ".1.2"]))
    text = whole + frac
    if text and draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        char = draw(st.sampled_from(["\u0663", "\uff11", "\u00b2", " ", "\n", "-", "+", "e", "_", "."]))
        text = text[:at] + char + text[at + 1:]
    return text + draw(st.sampled_from(["", "", "\n", " "]))


def _token() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(JSON_TOKENS),
        _json_number(),
        _timestamp_text().map(json.dumps),
        st.text(max_size=20).map(lambda s: json.dumps(s, ensure_ascii=False)),
    )


# ---------------------------------------------------------------------- tests


def test_every_contract_sample_on_every_input_topic() -> None:
    files = _example_files()
    assert len(files) >= 15
    accepted = 0
    for path in files:
        raw = path.read_bytes()
        for base in TOPICS:
            accepted += assert_same(base, raw)[0] == "ok"
    assert accepted >= 8  # each input sample on its own topic


def test_the_bench_workload() -> None:
    events = _workload()
    assert len(events) == 2000
    for base, raw in events:
        assert assert_same(base, raw)[0] == "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_token_at_any_leaf(data: st.DataObject) -> None:
    topic, doc = data.draw(st.sampled_from(_seeds()))
    path = data.draw(st.sampled_from(_leaves(doc)))
    raw = _with_raw(doc, path, data.draw(_token()))
    base = data.draw(st.sampled_from([topic, topic, *TOPICS]))
    assert_same(base, raw)


def _money_paths(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    data = doc["data"]
    paths = [("data", k) for k in ("amount",) if k in data]
    return paths + ([("data", "loss", "estimated_amount")] if "loss" in data else [])


def _timestamp_paths(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    paths = [("time",)] + [("data", k) for k in doc["data"] if k.endswith("_at")]
    return paths + [("data", "incident", "occurred_at")] if "incident" in doc["data"] else paths


@settings(max_examples=300, deadline=None)
@given(data=st.data())
@example(data=None)
def test_money_texts(data: st.DataObject | None) -> None:
    seeds = [(t, d) for t, d in _seeds() if _money_paths(d)]
    if data is None:  # every listed token at every money field of the first seed of each topic
        for topic, doc in {t: d for t, d in reversed(seeds)}.items():
            for path in _money_paths(doc):
                for token in MONEY_TOKENS:
                    assert_same(topic, _with_raw(doc, path, token))
        return
    topic, doc = data.draw(st.sampled_from(seeds))
    path = data.draw(st.sampled_from(_money_paths(doc)))
    tokens = st.one_of(st.sampled_from(MONEY_TOKENS), _json_number(), _json_number().map(json.dumps),
                       _money_like().map(json.dumps))
    token = data.draw(tokens)
    assert_same(topic, _with_raw(doc, path, token))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
@example(data=None)
def test_timestamp_texts(data: st.DataObject | None) -> None:
    if data is None:
        for topic, doc in {t: d for t, d in reversed(_seeds())}.items():
            for path in _timestamp_paths(doc):
                for text in TIMESTAMP_TEXTS:
                    assert_same(topic, _with_raw(doc, path, json.dumps(text)))
        return
    topic, doc = data.draw(st.sampled_from(_seeds()))
    path = data.draw(st.sampled_from(_timestamp_paths(doc)))
    assert_same(topic, _with_raw(doc, path, json.dumps(data.draw(_timestamp_text()))))


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_timestamp_text(), _canonical_like(), st.text(max_size=40), st.datetimes(), st.integers()))
@example(datetime(2026, 1, 1))
def test_timestamp_parser_alone(value: Any) -> None:
    def run(parse: Any) -> tuple[str, str]:
        try:
            return "ok", repr(parse(value))
        except Exception as exc:  # the PydanticCustomError: type and message
            return type(exc).__name__, str(exc)

    assert run(_parse_timestamp) == run(_parse_timestamp_reference)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_money_like(), _json_number(), st.text(max_size=20), st.decimals(), st.integers(),
                 st.floats(), st.booleans()))
@example("1000000000000.00")
@example("999999999999.99")
@example("00.00")
@example("0.00")
@example("1.00\n")
def test_money_parser_alone(value: Any) -> None:
    def run(parse: Any, arg: Any) -> tuple[str, str]:
        try:
            return "ok", repr(parse(arg))
        except Exception as exc:
            return type(exc).__name__, str(exc)

    assert run(_parse_money, value) == run(_money_reference, value)


def _money_reference(value: Any) -> Any:
    """Money before its fast path: every text through the pattern and quantize."""
    return _from_text(value) if isinstance(value, str) else _parse_money(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_raw_byte_mutations(data: st.DataObject) -> None:
    topic, doc = data.draw(st.sampled_from(_seeds()))
    raw = json.dumps(doc, ensure_ascii=data.draw(st.booleans())).encode("utf-8")
    kind = data.draw(st.sampled_from(["bom", "bad_utf8", "truncate", "flip", "dup_top", "dup_data", "nest",
                                      "escape"]))
    at = data.draw(st.integers(0, len(raw)))
    if kind == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif kind == "bad_utf8":
        bad = data.draw(st.sampled_from(BAD_UTF8))
        raw = raw[:at] + bad + raw[at:]
    elif kind == "truncate":
        raw = raw[:at]
    elif kind == "flip":
        raw = raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1:]
    elif kind == "dup_top":  # a key given twice: the last one wins in both decoders (or neither)
        key = data.draw(st.sampled_from(sorted(doc)))
        token = data.draw(_token()).encode("utf-8", "surrogatepass")
        raw = b'{"' + key.encode() + b'": ' + token + b"," + raw[1:]
    elif kind == "dup_data":
        key = data.draw(st.sampled_from(sorted(doc["data"])))
        token = data.draw(_token()).encode("utf-8", "surrogatepass")
        raw = raw.replace(b'"data": {', b'"data": {"' + key.encode() + b'": ' + token + b", ", 1)
    elif kind == "nest":
        depth = data.draw(st.sampled_from([1, 150, 199, 200, 201, 500, 990, 1000, 3000]))
        raw = _with_raw(doc, data.draw(st.sampled_from(_leaves(doc))), "[" * depth + "1" + "]" * depth)
    else:
        path = data.draw(st.sampled_from(_leaves(doc)))
        raw = _with_raw(doc, path, data.draw(st.sampled_from(STRING_TOKENS)))
    assert_same(topic, raw)


@pytest.mark.parametrize("raw", [
    b"", b" ", b"null", b"[]", b"{}", b"1.5", b"\xef\xbb\xbf{}", b'"\\ud800"', b"\xff", b"{" * 5000,
    b"[" * 100_000, b"x" * (1024 * 1024 + 1), b"\x00",
])
def test_degenerate_values(raw: bytes) -> None:
    for base in TOPICS:
        assert_same(base, raw)


def test_float_money_of_the_fast_path_is_read_from_its_text() -> None:
    """The fast path must not see money through a float: ``1e3`` is refused, ``0.10`` kept."""
    doc = next(d for t, d in _seeds() if t == "review-completed" and "amount" in d["data"])
    refused = assert_same("review-completed", _with_raw(doc, ("data", "amount"), "1e3"))
    assert refused[:2] == ("dead", "schema") and "exponent" in refused[2]
    kept = assert_same("review-completed", _with_raw(doc, ("data", "amount"), "0.10"))
    assert kept[0] == "ok" and kept[3]["data"]["amount"] == Decimal("0.10")


def test_conditional_rules_of_every_pairing() -> None:
    """review.completed, payment.settled and callback.completed: every stage × decision
    (status, outcome) with each conditional field present, absent or empty."""
    review = next(d for t, d in _seeds() if t == "review-completed")
    extras = {"case_id": "C-1", "complaint_id": "CP-1", "dispatch_id": "D-1", "amount": "10.00"}
    for stage in ["survey", "initial", "second", "joint", "complaint", "nope"]:
        for decision in ["completed", "unable", "approved", "rejected", "documents_requested",
                         "escalated", "upheld", "dismissed", "extended"]:
            for mask in range(16):
                data = {k: v for i, (k, v) in enumerate(extras.items()) if mask >> i & 1}
                for docs in ([], ["x"], None):
                    for reason in (" ", "why", None):
                        body = {"review_id": "R-1", "reviewer_id": "V-1", "stage": stage,
                                "decision": decision, "completed_at": review["data"]["completed_at"], **data,
                                "missing_documents": docs, "reason": reason}
                        assert_same("review-completed", json.dumps({**review, "data": body}).encode())
    for topic, field, values, extra in [
        ("payment-settled", "status", ["paid", "failed", "x"], {"failure_code": "name_mismatch"}),
        ("callback-completed", "outcome", ["reached", "no_answer", "x"], {"satisfaction": 4}),
    ]:
        seed = next(d for t, d in _seeds() if t == topic)
        for value in values:
            for with_extra in (True, False):
                for drop in (None, "case_id"):
                    data = {k: v for k, v in seed["data"].items() if k not in extra and k != drop}
                    data[field] = value
                    if with_extra:
                        data.update(extra)
                    assert_same(topic, json.dumps({**seed, "data": data}).encode())
