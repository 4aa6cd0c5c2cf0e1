"""Fuzzing a real worker (SPEC §2, §6): ≥ 10,000 malformed messages interleaved with valid ones.

Messages come from three generators, all deterministic for a seed:

* hypothesis strategies (derandomized): arbitrary JSON values, text and bytes put at random
  paths of the contract samples, random documents, raw binary;
* structural mutations of the samples: wrong types, huge strings, deep nesting,
  NaN/Infinity, negative / 3-decimal / exponent money, naive and malformed datetimes, bad
  enums, missing fields, SQL-injection, ``<script>``, emoji and Chinese strings;
* byte mutations of the serialised samples: invalid UTF-8, truncation, flips, splices;

plus fixed edge cases (2 MiB values, exactly 1 MiB, empty value, tombstone, NUL characters,
integers beyond Postgres ``integer``). Every message is classified *before* publishing:
validity by ``INPUT_EVENTS[topic].model_validate_json``, the dead-letter code by an
independent reading of SPEC §6 (size, UTF-8, JSON, schema). The worker must then put every
malformed message in its topic's ``.DLT`` with exactly that code, apply every valid one
(inbox) and store its strings verbatim — and never crash.

``CLAIMDESK_FUZZ_COUNT`` (malformed messages, default 10,000) and ``CLAIMDESK_FUZZ_SEED``
make a bigger or different run, e.g.
``CLAIMDESK_FUZZ_COUNT=100000 pytest tests/integration/test_fuzz.py``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from pydantic import ValidationError

from schemas import INPUT_EVENTS, Envelope
from tests.conftest import contract_dir
from tests.integration.conftest import wait_until
from tests.integration.kafka_helpers import HEADERS, read_all
from topics import CALLBACK_COMPLETED, CASE_WITHDRAWN, PAYMENT_SETTLED, V1_INPUT_TOPICS, TopicNames

#: v2 topics are fuzzed once their handlers land (payment-settled, case-withdrawn: issue 11;
#: callback-completed: issue 12)
INPUT_TOPICS = (*V1_INPUT_TOPICS, PAYMENT_SETTLED, CASE_WITHDRAWN, CALLBACK_COMPLETED)

pytestmark = pytest.mark.integration

FUZZ_COUNT = int(os.environ.get("CLAIMDESK_FUZZ_COUNT", "10000"))
FUZZ_SEED = int(os.environ.get("CLAIMDESK_FUZZ_SEED", "20261121"))
VALID_EVERY = 10  # one hand-made valid event after every ~10 generated messages

MIB = 1024 * 1024
SPEC_CODES = {"invalid_json", "invalid_utf8", "too_large", "schema", "unprocessable"}
INT4_MAX = 2**31 - 1
CST = timezone(timedelta(hours=8))

SAMPLES: dict[str, list[str]] = {
    "case-reported": ["case.reported.json"],
    "dispatch-requested": ["dispatch.requested.json"],
    "review-completed": ["review.completed.initial.json", "review.completed.survey.json",
                         "review.completed.complaint.json"],
    "complaint-filed": ["complaint.filed.json"],
    "callback-completed": ["callback.completed.json"],
    "payment-settled": ["payment.settled.json", "payment.settled.failed.json"],
    "case-withdrawn": ["case.withdrawn.json"],
}
TIME_PATHS: dict[str, list[tuple[str, ...]]] = {
    "case-reported": [("time",), ("data", "reported_at"), ("data", "incident", "occurred_at")],
    "dispatch-requested": [("time",), ("data", "requested_at")],
    "review-completed": [("time",), ("data", "completed_at")],
    "complaint-filed": [("time",), ("data", "filed_at")],
    "callback-completed": [("time",), ("data", "completed_at")],
    "payment-settled": [("time",), ("data", "settled_at")],
    "case-withdrawn": [("time",), ("data", "withdrawn_at")],
}
MONEY_PATHS: dict[str, list[tuple[str, ...]]] = {
    "case-reported": [("data", "loss", "estimated_amount")],
    "review-completed": [("data", "amount")],
    "payment-settled": [("data", "amount")],
}

# ------------------------------------------------------------------- value catalogues

SQLI = ["'; DROP TABLE cases;--", "1' OR '1'='1", "\"; DELETE FROM inbox; --",
        "$$; DROP SCHEMA public CASCADE; $$", "x'); TRUNCATE pii_vault; --", "%s %(id)s {0} \\",
        "';DROP/**/TABLE/**/inbox;--"]
SCRIPT = ["<script>alert(1)</script>", "<img src=x onerror=alert('xss')>",
          "\"><svg/onload=alert(document.cookie)>", "javascript:alert(1)"]
UNICODE = ["😀🔥🚗💥", "广东省深圳市南山区科技园", "欧阳娜娜", "a\u200bb\u200dc", "\u202eRTL\u202c",
           "e\u0301\u0301", "𠀀𪚥𝄞", "\r\n\t", "\\u0000", "null", "{}", "\ufeffBOM"]
WEIRD = SQLI + SCRIPT + UNICODE
BAD_MONEY: list[Any] = [
    "-1.00", -1, -0.01, "12.345", 12.345, "0.001", "1e3", 1e3, 1e-2, "NaN", math.nan, math.inf,
    -math.inf, "1,000.00", "", " 12.00", "¥100", "01.00", "1000000000000.00", 1e13, True, False,
    None, [], {}, "12.3.4", "0x10",
]
BAD_TIMES: list[Any] = [
    "2026-11-21T08:00:00", "2026-11-21", "2026-11-21 08:00:00", 1763683200, 1763683200.5,
    "2026-11-21T08:00:00+0800", "2026-13-01T00:00:00+08:00", "2026-02-30T00:00:00Z",
    "2026-11-21T24:00:00Z", "yesterday", "", None, [], "２０２６-11-21T08:00:00+08:00",
    "2026-11-21T08:00:00+08:00[Asia/Shanghai]", "2026-11-21T08:00:00+25:00",
    "2026-11-21T08:00:00.1234567891+08:00", "2026-11-21T08:00:00 +08:00",
]
TYPE_SWAPS: list[Any] = [0, -1, 1.5, True, False, None, [], {}, [1, "a"], {"a": {"b": None}},
                         "", "x" * 257, 10**30, -(10**30)]


def _pad(n_bytes: int) -> str:
    """About ``n_bytes`` of UTF-8 text (3-byte characters)."""
    return "填" * (n_bytes // 3 + 1)


# ------------------------------------------------------------------------ documents


def _samples() -> dict[str, list[dict[str, Any]]]:
    return {topic: [json.loads((contract_dir() / f).read_text(encoding="utf-8")) for f in files]
            for topic, files in SAMPLES.items()}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        doc = doc[part]
    del doc[path[-1]]


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _stamp(at: datetime) -> str:
    return at.astimezone(CST).isoformat(timespec="seconds")


def _dumps(doc: Any, rng: random.Random | None = None) -> bytes:
    ascii_ = bool(rng and rng.random() < 0.3)
    return json.dumps(doc, ensure_ascii=ascii_, allow_nan=True).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------- classification


@dataclass
class Message:
    """One record to publish and what must become of it."""

    n: int
    topic: str
    key: bytes | None
    value: bytes | None
    origin: str  # generator / category, for the failure report
    expect: str = ""  # "applied" or a SPEC §6 dead-letter code
    event: Envelope | None = None
    partition: int = -1
    offset: int = -1


def expected_code(topic: str, value: bytes | None) -> tuple[str, Envelope | None]:
    """SPEC §6 read independently of workers.decode: the DLT code, or "valid" + the event."""
    if not value:
        return "invalid_json", None
    if len(value) > MIB:
        return "too_large", None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    try:
        doc = json.loads(text)
        _check_utf8(doc)
    except (ValueError, RecursionError, UnicodeEncodeError):
        return "invalid_json", None
    try:
        return "valid", INPUT_EVENTS[topic].model_validate_json(value)
    except ValidationError as exc:
        assert not any(e["type"] == "json_invalid" for e in exc.errors()), "json disagreement"
        return "schema", None


def _check_utf8(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for k, v in value.items():
            k.encode("utf-8")
            _check_utf8(v)
    elif isinstance(value, list):
        for v in value:
            _check_utf8(v)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def db_rejects(event: Envelope) -> bool:
    """Valid by the contract, but a Postgres data error (SPEC §6: DLT ``unprocessable``):
    a NUL character in a string, or an integer beyond Postgres ``integer``."""
    data = event.data.model_dump(mode="python")
    if any("\x00" in s for s in _strings(data)) or "\x00" in event.source or "\x00" in event.id:
        return True
    injuries = getattr(getattr(event.data, "loss", None), "injuries", 0)
    return bool(injuries > INT4_MAX)


def business_key(topic: str, event: Envelope) -> tuple[str, str]:
    d = event.data
    attr = {"case-reported": "case_id", "dispatch-requested": "dispatch_id",
            "review-completed": "review_id", "complaint-filed": "complaint_id",
            "callback-completed": "callback_id",
            "payment-settled": "settlement_id", "case-withdrawn": "case_id"}[topic]
    return attr, str(getattr(d, attr))


# ------------------------------------------------------------------------ generators


class Fuzzer:
    """Deterministic message factory for one seed."""

    def __init__(self, seed: int, base_time: datetime) -> None:
        self.rng = random.Random(seed)
        self.samples = _samples()
        self.n = 0
        self.base_time = base_time  # data time of the hand-made valid events

    # -- identities ---------------------------------------------------------------

    def fresh(self, topic: str, index: int | None = None) -> dict[str, Any]:
        """A sample of ``topic`` with unique envelope and business ids."""
        self.n += 1
        n = self.n
        options = self.samples[topic]
        doc = copy.deepcopy(options[self.rng.randrange(len(options)) if index is None else index])
        doc["id"] = f"fz-{n}"
        data = doc["data"]
        if topic == "case-reported":
            data["case_id"] = doc["subject"] = f"FZ-{n}"
        elif topic == "dispatch-requested":
            data["dispatch_id"] = f"FZ-D-{n}"
        elif topic == "review-completed":
            data["review_id"] = f"FZ-R-{n}"
        elif topic == "callback-completed":
            data["callback_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fz-callback-{n}"))
        elif topic == "payment-settled":
            data["settlement_id"] = f"FZ-S-{n}"
        elif topic == "case-withdrawn":
            data["case_id"] = doc["subject"] = f"FZ-W-{n}"
        else:
            data["complaint_id"] = f"FZ-CP-{n}"
        return doc

    def key(self, doc: Any) -> bytes | None:
        roll = self.rng.random()
        if roll < 0.02:
            return None
        if roll < 0.04:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 12)))
        subject = doc.get("subject") if isinstance(doc, dict) else None
        return str(subject or "K").encode()

    # -- valid events -------------------------------------------------------------

    def valid(self, topic: str, strings: list[str]) -> dict[str, Any]:
        """A valid event whose free-form fields carry ``strings`` (cycled)."""
        doc = self.fresh(topic, 0)
        at = self.base_time + timedelta(seconds=self.n)
        for path in TIME_PATHS[topic]:
            _set(doc, path, _stamp(at))
        if topic == "case-reported":
            _set(doc, ("data", "incident", "occurred_at"), _stamp(at - timedelta(minutes=10)))
        it = iter(strings * 20)
        data = doc["data"]
        if topic == "case-reported":
            data["report_no"] = next(it)[:256]
            data["incident"]["district"] = next(it)
            data["incident"]["cause"] = next(it)[:256]
            data["incident"]["description"] = next(it)
            data["incident"]["address"] = next(it)
            data["reporter"]["name"] = next(it)[:256]
            data["insured"]["name"] = next(it)[:256]
            data["cat_code"] = next(it)[:256]
        elif topic == "dispatch-requested":
            data["dispatch_id"] = "FZ-D-" + "".join(next(it).split())[:100] + f"-{self.n}"
            data["location"]["district"] = next(it)
            data["location"]["address"] = next(it)
            data["case_id"] = f"FZ-{self.n - 1}"
        elif topic == "review-completed":
            data.update(stage="initial", decision="rejected", reason=next(it) or "x",
                        case_id=f"FZ-{self.n - 2}", reviewer_id="R-" + "".join(next(it).split()))
            data.pop("amount", None)
            if not data["reason"].strip():
                data["reason"] += "理由"
        elif topic == "callback-completed":
            data["comment"] = next(it)
            data["agent_id"] = "CB-" + "".join(next(it).split())[:100]
            data["case_id"] = f"FZ-{self.n - 4}"
        elif topic == "payment-settled":  # parked: its payout never exists
            data["bank_ref"] = "B-" + "".join(next(it).split())[:100]
            data["case_id"] = f"FZ-{self.n - 4}"
        elif topic == "case-withdrawn":
            data["requested_by"] = "CS-" + "".join(next(it).split())[:100]
        else:
            data["description"] = next(it)
            data["complainant"]["name"] = next(it)[:256] or "x"
            data["against_adjuster_id"] = "ADJ-" + "".join(next(it).split())[:100]
            data["case_id"] = f"FZ-{self.n - 3}"
        return doc

    # -- structural mutations -----------------------------------------------------

    def structural(self) -> tuple[str, str, bytes]:
        rng = self.rng
        topic = rng.choice(INPUT_TOPICS)
        doc = self.fresh(topic)
        paths = _paths(doc)
        kind = rng.choice(["type", "type", "money", "time", "time", "string", "huge", "nest",
                           "nan", "missing", "null", "enum", "envelope", "shape", "bigint"])
        if kind == "money" and MONEY_PATHS.get(topic):
            _set(doc, rng.choice(MONEY_PATHS[topic]), rng.choice(BAD_MONEY))
        elif kind == "time":
            _set(doc, rng.choice(TIME_PATHS[topic]), rng.choice(BAD_TIMES))
        elif kind == "string":
            _set(doc, rng.choice(paths), rng.choice(WEIRD))
        elif kind == "huge":
            size = rng.choice([257, 3000, 40_000] * 10 + [300_000])
            _set(doc, rng.choice(paths), rng.choice(["x", "字", "😀"]) * size)
        elif kind == "nest":
            depth = rng.choice([50, 900, 1500, 5000])
            inner: Any = rng.choice([[], {}, "x", 1])
            text = "[" * depth + json.dumps(inner) + "]" * depth
            if rng.random() < 0.5:
                text = '{"a":' * depth + json.dumps(inner) + "}" * depth
            marker = "__NEST__"
            _set(doc, rng.choice(paths), marker)
            return topic, f"structural:{kind}", _dumps(doc).replace(
                json.dumps(marker).encode(), text.encode())
        elif kind == "nan":
            _set(doc, rng.choice(paths), rng.choice([math.nan, math.inf, -math.inf]))
        elif kind == "missing":
            path = rng.choice(paths)
            _delete(doc, path)
        elif kind == "null":
            _set(doc, rng.choice(paths), None)
        elif kind == "enum":
            enum_paths = [p for p in paths if p[-1] in (
                "line", "channel", "task", "skill", "urgency", "stage", "decision", "category",
                "relation", "specversion", "type")]
            _set(doc, rng.choice(enum_paths), rng.choice(
                ["spaceship", "AUTO", "", "auto ", 1, "承保", "13812345678", None]))
        elif kind == "envelope":
            doc[rng.choice(["specversion", "id", "source", "type", "data"])] = rng.choice(
                TYPE_SWAPS + ["0.3", "case.reported", "review.completed", "", "x" * 300])
        elif kind == "shape":
            shape = rng.choice([[doc], doc["data"], "text", 42, None, {}, [], True])
            return topic, f"structural:{kind}", _dumps(shape)
        elif kind == "bigint":
            big = rng.choice([10**30, -(10**30), 2**63, "__BIG__"])
            _set(doc, rng.choice(paths), big)
            if big == "__BIG__":  # beyond the interpreter's int/str limit: written by hand
                return topic, f"structural:{kind}", _dumps(doc).replace(
                    b'"__BIG__"', b"9" * 5000)
        else:
            _set(doc, rng.choice(paths), rng.choice(TYPE_SWAPS))
        if rng.random() < 0.2:  # unknown extra fields never matter
            doc[rng.choice(["extension", "data_x", "特别"])] = rng.choice(TYPE_SWAPS)
        return topic, f"structural:{kind}", _dumps(doc, rng)

    # -- byte mutations -----------------------------------------------------------

    def bytewise(self) -> tuple[str, str, bytes]:
        rng = self.rng
        topic = rng.choice(INPUT_TOPICS)
        raw = bytearray(_dumps(self.fresh(topic)))
        kind = rng.choice(["truncate", "flip", "utf8", "utf8", "delete", "dup", "swap", "nul"])
        pos = rng.randrange(len(raw))
        if kind == "truncate":
            raw = raw[: rng.randrange(1, len(raw))]
        elif kind == "flip":
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        elif kind == "utf8":
            bad = rng.choice([b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80",
                              b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80",
                              b"\xc3\x28", b"\xef\xbf"])
            raw[pos:pos] = bad
        elif kind == "delete":
            del raw[pos: pos + rng.randint(1, 20)]
        elif kind == "dup":
            raw[pos:pos] = raw[pos: pos + rng.randint(1, 40)]
        elif kind == "swap":
            for a, b in ((b":", b","), (b'"', b"'"), (b"{", b"["), (b"}", b"]")):
                if rng.random() < 0.5:
                    i = raw.find(a, pos)
                    if i >= 0:
                        raw[i: i + 1] = b
        else:
            raw[pos:pos] = b"\x00"
        return topic, f"bytes:{kind}", bytes(raw)

    # -- fixed edges ----------------------------------------------------------------

    def edges(self) -> list[tuple[str, str, bytes | None]]:
        out: list[tuple[str, str, bytes | None]] = []
        for i, topic in enumerate(INPUT_TOPICS):
            doc = self.fresh(topic)
            big = _dumps(doc)
            # 2 MiB: a valid event padded in a free-text field, and raw garbage
            padded = copy.deepcopy(doc)
            padded["pad"] = _pad(2 * MIB)
            out.append((topic, "edge:2MiB-json", _dumps(padded)))
            out.append((topic, "edge:2MiB-bytes", bytes(self.rng.randrange(256)
                                                         for _ in range(16)) * (MIB // 8)))
            out.append((topic, "edge:empty", b""))
            out.append((topic, "edge:tombstone", None))
            out.append((topic, "edge:bom", b"\xef\xbb\xbf" + big))
            out.append((topic, "edge:deep-array", b"[" * 200_000 + b"]" * 200_000))
            surrogate = big.replace(b'"data"', b'"\\ud800": 1, "data"')
            out.append((topic, "edge:lone-surrogate", surrogate))
            out.append((topic, "edge:nan-literal", big.replace(b'"specversion": "1.0"',
                                                                b'"specversion": NaN')))
            if i == 0:
                # exactly 1 MiB is still accepted, one byte more is too large
                for extra, origin in ((0, "edge:1MiB-exact"), (1, "edge:1MiB+1")):
                    d = self.valid(topic, ["边界"])
                    d["data"]["incident"]["description"] = ""
                    base = len(_dumps(d))
                    d["data"]["incident"]["description"] = "x" * (MIB - base + extra)
                    value = _dumps(d)
                    assert len(value) == MIB + extra
                    out.append((topic, origin, value))
        # valid but extreme data times: year 1 and 9999, on both sides of UTC
        for topic in INPUT_TOPICS:
            for when in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                         "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"):
                d = self.valid(topic, ["时间"])
                for path in TIME_PATHS[topic]:
                    _set(d, path, when)
                out.append((topic, f"edge:time-{when}", _dumps(d)))
        # valid by the contract, refused by Postgres: must be `unprocessable`, not a crash
        for origin, mutate in (
            ("edge:nul-free-text", lambda d: d["data"]["incident"].update(description="a\x00b")),
            ("edge:nul-text", lambda d: d["data"].update(report_no="R\x00")),
            ("edge:nul-name", lambda d: d["data"]["reporter"].update(name="张\x00伟")),
            ("edge:int4-overflow", lambda d: d["data"]["loss"].update(injuries=2**31)),
            ("edge:int8-overflow", lambda d: d["data"]["loss"].update(injuries=2**70)),
        ):
            d = self.valid("case-reported", ["fine"])
            mutate(d)
            out.append(("case-reported", origin, _dumps(d)))
        return out


def hypothesis_messages(fz: Fuzzer, count: int) -> list[tuple[str, str, bytes]]:
    """``count`` messages from hypothesis strategies (derandomized: same every run)."""
    leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
            | st.text(max_size=30))
    json_value = st.recursive(
        leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c,
                                                                  max_size=4),
        max_leaves=10)
    op = st.one_of(
        st.tuples(st.just("set"), st.integers(0, 10**6), json_value),
        st.tuples(st.just("text"), st.integers(0, 10**6), st.text(max_size=60)),
        st.tuples(st.just("delete"), st.integers(0, 10**6)),
        st.tuples(st.just("splice"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("doc"), json_value),
        st.tuples(st.just("binary"), st.binary(max_size=200)),
    )
    out: list[tuple[str, str, bytes]] = []
    topics = st.sampled_from(INPUT_TOPICS)

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(topics, st.lists(op, min_size=1, max_size=3))
    def collect(topic: str, ops: list[tuple[Any, ...]]) -> None:
        doc: Any = fz.fresh(topic)
        raw: bytes | None = None
        names = []
        for o in ops:
            names.append(o[0])
            if o[0] in ("doc", "binary"):
                doc, raw = (o[1], None) if o[0] == "doc" else (doc, o[1])
                continue
            if raw is not None or not isinstance(doc, dict):
                continue
            paths = _paths(doc)
            if not paths:
                continue
            path = paths[o[1] % len(paths)]
            if o[0] == "set":
                _set(doc, path, o[2])
            elif o[0] == "text":
                strings = [p for p in paths if isinstance(_get(doc, p), str)] or paths
                _set(doc, strings[o[1] % len(strings)], o[2])
            elif o[0] == "delete":
                _delete(doc, path)
            else:
                b = _dumps(doc)
                at = o[1] % len(b)
                raw = b[:at] + o[2] + b[at:]
        value = raw if raw is not None else _dumps(doc)
        out.append((topic, "hypothesis:" + "+".join(names), value))

    collect()
    return out


def generate_messages(seed: int, malformed_target: int, base_time: datetime | None = None,
                      ) -> tuple[list[Message], Counter[str]]:
    """Interleaved messages (valid and malformed) until ``malformed_target`` malformed ones.

    The same seed and ``base_time`` give the same messages; ``base_time`` defaults to
    4 days ago (data times in the past: no surge window is still open).
    """
    if base_time is None:
        base_time = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=4)
    fz = Fuzzer(seed, base_time)
    pool: list[tuple[str, str, bytes | None]] = list(fz.edges())
    pool += hypothesis_messages(fz, max(1, malformed_target // 5))
    fz.rng.shuffle(pool)
    weird_iter = iter(WEIRD * 10_000)
    hyp_strings = _hypothesis_strings(seed)
    messages: list[Message] = []
    dropped: Counter[str] = Counter()
    seen_ids: set[tuple[str, str]] = set()
    seen_keys: set[tuple[str, str, str]] = set()
    malformed = 0
    i = 0

    def add(topic: str, origin: str, value: bytes | None, key: bytes | None) -> None:
        nonlocal malformed
        if value is None and key is None:
            key = b"K"  # a tombstone needs a key to be sent at all
        code, event = expected_code(topic, value)
        m = Message(len(messages), topic, key, value, origin, expect=code, event=event)
        if event is not None:
            ident = (event.source, event.id)
            bkey = (topic, *business_key(topic, event))
            if ident in seen_ids or bkey in seen_keys:
                dropped["valid with a colliding id"] += 1  # keep expectations exact
                return
            tame = origin.startswith(("edge:", "valid:"))
            if db_rejects(event) and not tame:
                dropped["valid, NUL/int4 outside the fixed edges"] += 1
                return
            seen_ids.add(ident)
            seen_keys.add(bkey)
            m.expect = "unprocessable" if db_rejects(event) else "applied"
        else:
            malformed += 1
        messages.append(m)

    while malformed < malformed_target or pool:
        i += 1
        if i % VALID_EVERY == 0:
            topic = INPUT_TOPICS[(i // VALID_EVERY) % len(INPUT_TOPICS)]
            strings = [next(weird_iter) for _ in range(3)] + next(hyp_strings)
            doc = fz.valid(topic, strings)
            add(topic, "valid:strings", _dumps(doc, fz.rng), fz.key(doc))
            continue
        if pool and (fz.rng.random() < 0.4 or malformed >= malformed_target):
            topic, origin, value = pool.pop()
        elif fz.rng.random() < 0.5:
            topic, origin, value = fz.structural()
        else:
            topic, origin, value = fz.bytewise()
        add(topic, origin, value, fz.key({"subject": f"FZ-{fz.n}"}))
    return messages, dropped


def _hypothesis_strings(seed: int) -> Iterator[list[str]]:
    """Endless lists of hypothesis text (no NUL: Postgres text cannot hold it)."""
    batches: list[list[str]] = []
    text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=1, max_size=40)

    @settings(max_examples=300, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.lists(text, min_size=6, max_size=6))
    def collect(strings: list[str]) -> None:
        batches.append([s if s.strip() else s + "字" for s in strings])

    collect()
    while True:
        yield from batches


# ------------------------------------------------------------------------ publishing


def publish_messages(bootstrap: str, names: TopicNames, messages: list[Message]) -> None:
    """Send in order; record where each message landed (partition, offset)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, acks="all",
                             max_request_size=4 * MIB, batch_size=256 * 1024)
    try:
        futures = [producer.send(names.name(m.topic), key=m.key, value=m.value, headers=HEADERS)
                   for m in messages]
        producer.flush(120)
        for m, fut in zip(messages, futures, strict=True):
            meta = fut.get(timeout=60)
            m.partition, m.offset = meta.partition, meta.offset
    finally:
        producer.close()


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _metric_total(port: int, outcome: str, topic: str | None = None) -> int:
    """``claimdesk_events_total`` for ``outcome`` (and input ``topic``) from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("claimdesk_events_total{") and f'outcome="{outcome}"' in line \
                and (topic is None or f'topic="{topic}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


# ----------------------------------------------------------------------------- test


def test_generator_is_deterministic_and_covers_every_category() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    a, _ = generate_messages(7, 600, at)
    b, _ = generate_messages(7, 600, at)
    assert [(m.topic, m.key, m.value) for m in a] == [(m.topic, m.key, m.value) for m in b]
    codes = Counter(m.expect for m in a)
    assert {"applied", "unprocessable", "invalid_json", "invalid_utf8", "too_large",
            "schema"} <= set(codes), codes
    assert {m.topic for m in a if m.expect == "applied"} == set(INPUT_TOPICS)
    # data times outside 1900..2100 (UTC) are input errors: they overflowed deadlines and
    # stalled the monitor with rows Python cannot read back
    times = {(m.origin.removeprefix("edge:time-"), m.expect) for m in a
             if m.origin.startswith("edge:time-")}
    assert times == {("9999-12-31T23:59:59-12:00", "schema"), ("9999-12-31T23:59:59Z", "schema"),
                     ("0001-01-01T00:00:00+14:00", "schema"), ("0001-01-01T00:00:00Z", "schema"),
                     ("1970-01-01T00:00:00Z", "applied")}


def test_fuzzed_messages_are_dead_lettered_valid_ones_applied_verbatim_and_nothing_crashes(
    bootstrap: str, names: TopicNames, dsn: str, start_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    messages, dropped = generate_messages(FUZZ_SEED, FUZZ_COUNT)
    by_expect = Counter(m.expect for m in messages)
    malformed = [m for m in messages if m.expect not in ("applied",)]
    valid = [m for m in messages if m.expect == "applied"]
    assert sum(1 for m in messages if m.event is None) >= FUZZ_COUNT
    print(f"\nfuzz: {len(messages)} messages, expected outcomes {dict(by_expect)};"
          f" dropped before publishing: {dict(dropped)}")
    print("fuzz: origins", dict(Counter(m.origin.split("+")[0] for m in messages)))

    policy = tmp_path / "policy.toml"  # monitor checks every 2 s instead of 30 s
    policy.write_text('[defaults.backlog]\ncheck_interval = "2s"\n', encoding="utf-8")
    worker = start_worker(CLAIMDESK_POLICY_FILE=str(policy))
    publish_messages(bootstrap, names, messages)

    # each message ends as an inbox row or a dead letter: wait for all, then compare exactly
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM inbox")
               + _metric_total(worker.port, "dead_lettered") >= len(messages), timeout=180,
               what=f"{len(messages)} messages settled (inbox rows + dead letters)")

    # -- the worker survived, and so did its monitor (sweeper, checks, surge windows) ----
    done = datetime.now(UTC)
    try:
        wait_until(lambda: _count(dsn, "SELECT count(*) FROM monitor_runs WHERE last_run_at > '"
                                  + done.isoformat() + "'"), timeout=60,
                   what="a monitor round after the last message")
    except AssertionError as exc:
        failing = [ln for ln in worker.log().splitlines() if "workers.monitor" in ln]
        raise AssertionError(f"{exc}; monitor log: {failing[-5:]}") from None
    assert worker.proc.poll() is None, "worker died"
    log = worker.log()
    monitor_failures = [ln for ln in log.splitlines() if "workers.monitor.loop: monitor:" in ln]
    assert monitor_failures == [], monitor_failures[:5]
    assert "Traceback" not in log, log[log.index("Traceback") - 2000: log.index("Traceback") + 3000]
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=10) as r:
        assert r.status == 200

    # -- every malformed one in its DLT, with the expected code and a message ----------
    where = {(names.name(m.topic), m.partition, m.offset): m for m in messages}
    seen: set[int] = set()
    wrong: list[str] = []
    for topic in INPUT_TOPICS:
        dead = read_all(bootstrap, names.dlt(topic), timeout=120,
                        expect=_metric_total(worker.port, "dead_lettered", topic))
        for d in dead:
            h = d.headers
            code = h["claimdesk.error.code"].decode()
            message = h["claimdesk.error.message"].decode()
            origin = (h["claimdesk.original.topic"].decode(),
                      int(h["claimdesk.original.partition"]), int(h["claimdesk.original.offset"]))
            m = where[origin]
            assert m.n not in seen, f"dead-lettered twice: {m.origin}"
            seen.add(m.n)
            assert code in SPEC_CODES and message.strip()
            if code != m.expect:
                wrong.append(f"#{m.n} {m.origin}: expected {m.expect}, got {code} ({message})")
                continue
            assert d.key == m.key
            if code == "too_large":
                assert d.value in (b"", None)
                assert h["claimdesk.original.size"] == str(len(m.value or b"")).encode()
            else:
                assert (d.value or b"") == (m.value or b"")
    missing = [f"#{m.n} {m.origin}: expected {m.expect}, not dead-lettered"
               for m in malformed if m.n not in seen]
    assert wrong + missing == [], "\n".join((wrong + missing)[:40])

    # -- every valid one applied, none of the malformed ones ---------------------------
    with psycopg.connect(dsn) as conn:
        inbox = set(conn.execute("SELECT source, event_id FROM inbox").fetchall())
        want = {(m.event.source, m.event.id) for m in valid if m.event}
        assert inbox == want, (len(inbox - want), len(want - inbox))
        _assert_stored_verbatim(conn, valid)
        assert conn.execute("SELECT count(*) FROM cases WHERE case_id = 'C-PICC-2026-000123'"
                            ).fetchone() == (0,)  # the samples' own ids were never used
    assert worker.proc.poll() is None, "worker died"


def _assert_stored_verbatim(conn: psycopg.Connection[Any], valid: list[Message]) -> None:
    """Strings of the valid events are in the database exactly as sent."""
    cases = {r[0]: r[1:] for r in conn.execute(
        "SELECT case_id, report_no, insurer, district, cause, cat_code, province, city"
        " FROM cases").fetchall()}
    dispatches = {r[0]: r[1:] for r in conn.execute(
        "SELECT dispatch_id, case_id, district FROM dispatches").fetchall()}
    complaints = {r[0]: r[1:] for r in conn.execute(
        "SELECT complaint_id, insurer, against_adjuster_id FROM complaints").fetchall()}
    reviews = {r[0]: r[1] for r in conn.execute(
        "SELECT review_id, reviewer_id FROM reviews").fetchall()}
    settlements = {r[0]: r[1:] for r in conn.execute(
        "SELECT settlement_id, case_id, bank_ref FROM settlements").fetchall()}
    withdrawals = {r[0]: r[1] for r in conn.execute(
        "SELECT case_id, requested_by FROM withdrawals").fetchall()}
    vault = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT source, event_id, fields FROM pii_vault").fetchall()}
    # callback attempts for callbacks never requested wait parked (SPEC §4.10)
    parked = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT source, event_id, payload FROM parked_events WHERE subject_type = 'callback'"
    ).fetchall()}
    checked = Counter[str]()
    for m in valid:
        ev = m.event
        assert ev is not None
        d: Any = ev.data
        if m.topic == "case-reported":
            inc = d.incident
            assert cases[d.case_id] == (d.report_no, d.insurer, inc.district, inc.cause,
                                        d.cat_code, inc.province, inc.city), m.origin
            pii = [d.policy_no, inc.address, inc.description, d.reporter.name, d.reporter.phone,
                   d.insured.name, d.insured.id_number]
        elif m.topic == "dispatch-requested":
            assert dispatches[d.dispatch_id] == (d.case_id, d.location.district), m.origin
            pii = [d.location.address]
        elif m.topic == "complaint-filed":
            assert complaints[d.complaint_id] == (d.insurer, d.against_adjuster_id), m.origin
            pii = [d.description, d.complainant.name, d.complainant.phone]
        elif m.topic == "callback-completed":
            payload = parked[(ev.source, ev.id)]
            assert (payload["callback_id"], payload["agent_id"]) == (
                str(d.callback_id), d.agent_id), m.origin
            pii = [d.comment]
        elif m.topic == "payment-settled":
            assert settlements[d.settlement_id] == (d.case_id, d.bank_ref), m.origin
            pii = []
        elif m.topic == "case-withdrawn":
            assert withdrawals[d.case_id] == d.requested_by, m.origin
            pii = []
        else:
            assert reviews[d.review_id] == d.reviewer_id, m.origin
            pii = [d.reason]
        present = [p for p in pii if p not in (None, "")]
        if present:
            stored = set(_strings(vault[(ev.source, ev.id)]))
            assert set(present) <= stored, m.origin
        checked[m.topic] += 1
    assert all(checked[t] > 0 for t in INPUT_TOPICS), checked
    # every SQL-injection, script, emoji and Chinese string is in the database, as sent
    stored = set(_strings([list(cases.values()), list(dispatches.values()),
                           list(complaints.values()), list(vault.values())]))
    assert set(WEIRD) <= stored, sorted(set(WEIRD) - stored)
    assert cases[_case_with(valid, "'; DROP TABLE cases;--")][0] == "'; DROP TABLE cases;--"


def _case_with(valid: list[Message], report_no: str) -> str:
    """The case_id of the applied case.reported event sent with ``report_no``."""
    for m in valid:
        if m.topic == "case-reported" and m.event and m.event.data.report_no == report_no:
            return str(m.event.data.case_id)
    raise AssertionError(f"no valid case was sent with report_no {report_no!r}")
