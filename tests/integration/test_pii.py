"""PII leak scan (SPEC §8): after a simulated run, no published personal data appears
anywhere but ``pii_vault``.

A 300-case simulator run (complaints, a surge, SLA breaches, duplicates, out-of-order
delivery) plus invalid events that carry PII (so every dead-letter path is exercised) go
through a real worker logging at DEBUG. Every PII value published — reporter, insured,
complainant and adjuster names, phones (also those inside free text), ID numbers, policy
numbers, addresses, descriptions, review reasons — is then searched for in:

* the worker's log (all levels) and the ``roster load`` output,
* ``/metrics``, ``/`` (ops page) and ``/healthz``,
* every ``rm_*`` view and every other table except ``pii_vault`` (``SELECT *`` as text),
* the ``alerts``, ``dispatch-assigned``, ``payout-approved`` and ``escalations`` topics (keys,
  values, headers),
* the headers of the four ``.DLT`` topics,

and must be found 0 times. Short values are matched sensibly: a name of 2–3 CJK characters
only when it is not part of a longer run of CJK characters ("高新" is inside the district
"高新区" by chance, not a leak); phones, ID and policy numbers only when not part of a longer
run of letters and digits. Positive controls prove the scanner finds what it should: the
vault and the DLT *values* (original bytes, SPEC §6) are full of hits.
"""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import contract_dir
from tests.integration.conftest import wait_until
from tests.integration.kafka_helpers import Consumed, publish, read_all
from topics import (
    ALERTS,
    CUSTOMER_NOTICES,
    DISPATCH_ASSIGNED,
    ESCALATIONS,
    INPUT_TOPICS,
    PAYOUT_APPROVED,
    TopicNames,
)
from workers.rules.masking import mask_id_number, mask_name, mask_phone, mask_policy_no
from workers.sim.model import SimEvent
from workers.simulate import generate, publish_run, write_roster_csv

pytestmark = pytest.mark.integration

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


# ------------------------------------------------------------------------- PII set


@dataclass(frozen=True)
class Pii:
    """One personal value and where it was published (for the failure report)."""

    value: str
    kind: str
    pattern: re.Pattern[str]


def _pattern(value: str) -> re.Pattern[str]:
    escaped = re.escape(value)
    if re.fullmatch(r"[0-9A-Za-z+\-]+", value):  # phones, id and policy numbers
        return re.compile(rf"(?<![0-9A-Za-z]){escaped}(?![0-9A-Za-z])")
    if len(value) <= 3 and re.search(f"[{CJK}]", value):  # short Chinese names
        return re.compile(rf"(?<![{CJK}]){escaped}(?![{CJK}])")
    return re.compile(escaped)


def pii_of_event(topic: str, event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, value) of every PII field of a published event (SPEC §3 marks them)."""
    d = event.get("data") or {}

    def get(*path: str) -> Any:
        cur: Any = d
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        return cur

    fields: dict[str, list[tuple[str, ...]]] = {
        "case-reported": [("policy_no",), ("incident", "address"), ("incident", "description"),
                          ("reporter", "name"), ("reporter", "phone"), ("insured", "name"),
                          ("insured", "id_number")],
        "dispatch-requested": [("location", "address")],
        "review-completed": [("reason",)],
        "complaint-filed": [("description",), ("complainant", "name"),
                            ("complainant", "phone")],
        "callback-completed": [("comment",)],
        "payment-settled": [],  # v2 inputs without PII
        "case-withdrawn": [],
    }
    for path in fields.get(topic, []):
        value = get(*path)
        if isinstance(value, (str, int)) and str(value).strip():
            yield ".".join(path), str(value).strip()
            for phone in PHONE_IN_TEXT.findall(str(value)):
                yield "phone in " + ".".join(path), phone


def build_pii(published: Iterable[tuple[str, bytes]], roster: list[dict[str, str]]) -> list[Pii]:
    found: dict[str, str] = {}
    for topic, value in published:
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if isinstance(event, dict):
            for kind, v in pii_of_event(topic, event):
                found.setdefault(v, kind)
    for row in roster:
        found.setdefault(row["name"].strip(), "adjuster name")
    too_short = [v for v in found if len(v) < 2]
    assert not too_short, too_short
    return [Pii(v, k, _pattern(v)) for v, k in sorted(found.items())]


# ------------------------------------------------------------------------ scanning


@dataclass
class Hit:
    source: str
    pii: Pii
    context: str


class Scanner:
    """Finds PII in texts: a literal prefilter over every value, then each candidate's
    exact pattern (boundaries for short values) over the whole text."""

    def __init__(self, pii: list[Pii]) -> None:
        self.pii = pii
        self.any = re.compile("|".join(re.escape(p.value) for p in
                                       sorted(pii, key=lambda p: -len(p.value))))
        self.by_value = {p.value: p for p in pii}
        self.scanned: dict[str, int] = {}

    def scan(self, source: str, texts: Iterable[str]) -> list[Hit]:
        hits: list[Hit] = []
        n = 0
        for text in texts:
            n += 1
            for value in {m.group(0) for m in self.any.finditer(text)}:
                p = self.by_value[value]
                m = p.pattern.search(text)
                if m:
                    hits.append(Hit(source, p, text[max(0, m.start() - 60): m.end() + 60]))
        self.scanned[source] = self.scanned.get(source, 0) + n
        return hits


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _texts_of(value: Any) -> Iterator[str]:
    """A cell or payload as text, plus every string inside it if it is (or holds) JSON —
    so ``\\uXXXX``-escaped output cannot hide a name."""
    if value is None:
        return
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        yield json.dumps(value, ensure_ascii=False, default=str)
        yield from _strings(value)
        return
    text = str(value)
    yield text
    if text[:1] in "{[":
        try:
            decoded = json.loads(text)
        except ValueError:
            return
        yield from _strings(decoded)


def _records_texts(records: list[Consumed], *, values: bool = True) -> Iterator[str]:
    for r in records:
        if r.key:
            yield from _texts_of(r.key)
        for k, v in r.headers.items():
            yield k
            yield from _texts_of(v)
        if values:
            yield from _texts_of(r.value)


def _db_texts(dsn: str, exclude: set[str]) -> dict[str, list[str]]:
    """Every relation of the test schema but ``exclude``, ``SELECT *`` as texts."""
    out: dict[str, list[str]] = {}
    with psycopg.connect(dsn) as conn:
        rels = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm')"
            " ORDER BY 1").fetchall()]
        for rel in rels:
            if rel in exclude:
                continue
            texts: list[str] = []
            for row in conn.execute(f'SELECT * FROM "{rel}"').fetchall():
                for cell in row:
                    texts.extend(_texts_of(cell))
            out[rel] = texts
    return out


def _http(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=15) as resp:
        assert resp.status == 200, path
        return resp.read().decode()


# -------------------------------------------------------------- invalid events with PII


def _sample(name: str) -> dict[str, Any]:
    return json.loads((contract_dir() / name).read_text(encoding="utf-8"))


PHONE_A, PHONE_B, PHONE_C = "13987654321", "15811112222", "18633334444"
ID_BAD = "44030519800101123Y"  # wrong check character: a pattern error


def invalid_events_with_pii() -> list[tuple[str, str, bytes, str]]:
    """(topic, key, value, expected DLT code): each carries PII in or near the bad field."""
    out: list[tuple[str, str, bytes, str]] = []

    def case(n: int, **changes: Any) -> dict[str, Any]:
        ev = _sample("case.reported.json")
        ev["id"] = f"pii-bad-{n}"
        d = ev["data"]
        d["case_id"] = f"C-PII-BAD-{n}"
        d["policy_no"] = f"PDAA20264403{n:010d}"
        d["reporter"] = {"name": "司马相如", "phone": PHONE_A, "relation": "driver"}
        d["insured"] = {"name": "卓文君", "id_number": "44030519800101123X"}
        d["incident"]["address"] = f"福田区彩田路 {n}00 号 阳光花园 {n} 栋"
        d["incident"]["description"] = f"车主 {PHONE_B} 称车辆被刮,联系人卓文君"
        for path, value in changes.items():
            cur = d
            keys = path.split("__")
            for k in keys[:-1]:
                cur = cur[k]
            cur[keys[-1]] = value
        return ev

    def dump(ev: Any) -> bytes:
        return json.dumps(ev, ensure_ascii=False).encode()

    key = "C-PII-BAD"
    out.append(("case-reported", key, dump(case(1, line="spaceship")), "schema"))
    out.append(("case-reported", key, dump(case(2, insured__id_number=ID_BAD)), "schema"))
    out.append(("case-reported", key, dump(case(3, reporter__phone=int(PHONE_C))), "schema"))
    out.append(("case-reported", key, dump(case(4, reporter__name="欧阳" * 200)), "schema"))
    out.append(("case-reported", key, dump(case(5, case_id=f"张伟 {PHONE_A}")), "schema"))
    six = case(6, channel=PHONE_B, reported_at="2026-11-21T08:00")
    out.append(("case-reported", key, dump(six), "schema"))
    out.append(("case-reported", key, dump(case(7))[:-40], "invalid_json"))
    out.append(("case-reported", key, dump(case(8)).replace(b"PICC", b"PICC\xff"), "invalid_utf8"))
    big = case(9)
    big["data"]["incident"]["description"] = f"{PHONE_C} " * 120_000
    out.append(("case-reported", key, dump(big), "too_large"))
    out.append(("case-reported", key, dump(case(10, incident__description=f"{PHONE_A}\x00卓文君")),
                "unprocessable"))
    comp = _sample("complaint.filed.json")
    comp["id"] = "pii-bad-11"
    comp["data"].update(complaint_id="CP-PII-BAD-11", channel=PHONE_C,
                        description=f"投诉人 {PHONE_B} 要求回电", complainant={
                            "name": "诸葛孔明", "phone": PHONE_B})
    out.append(("complaint-filed", "CP-PII-BAD-11", dump(comp), "schema"))
    comp2 = copy.deepcopy(comp)
    comp2["id"], comp2["data"]["channel"] = "pii-bad-12", "phone"
    comp2["data"]["complainant"]["name"] = None
    out.append(("complaint-filed", "CP-PII-BAD-11", dump(comp2), "schema"))
    rev = _sample("review.completed.initial.json")
    rev["id"] = "pii-bad-13"
    rev["data"].update(review_id="R-PII-BAD-13", decision="rejected",
                       reason=f"被保险人卓文君 {PHONE_A} 身份证 {ID_BAD} 不符", stage="survey")
    out.append(("review-completed", key, dump(rev), "schema"))
    disp = _sample("dispatch.requested.json")
    disp["id"] = "pii-bad-14"
    disp["data"].update(dispatch_id="D-PII-BAD-14", urgency=f"urgent {PHONE_C}")
    disp["data"]["location"]["address"] = f"罗湖区人民南路 88 号 {PHONE_C}"
    out.append(("dispatch-requested", key, dump(disp), "schema"))
    return out


# ------------------------------------------------------------------ dispatches to assign


def unsurveyed_dispatches(events: list[SimEvent], withdrawn: set[str],
                          n: int = 3) -> list[SimEvent]:
    """Copies (new dispatch and event ids, same data) of ``n`` dispatch requests of cases
    not withdrawn, never surveyed: each is announced on ``dispatch-assigned`` (assigned or
    queued) whatever the order the worker applies the topics in. The simulator's own
    dispatches are not enough: a survey applied before its request (topics of a consumer
    round run concurrently) records the dispatch as surveyed, never assigned (SPEC §4.2)."""
    out: list[SimEvent] = []
    for ev in events:
        envelope = json.loads(ev.value)
        if (ev.topic != "dispatch-requested" or ev.duplicate
                or envelope["data"]["case_id"] in withdrawn):
            continue
        k = len(out)
        envelope["id"] = f"pii-unsurveyed-{k}"
        envelope["data"]["dispatch_id"] += f"-U{k}"
        out.append(replace(ev, value=json.dumps(envelope, ensure_ascii=False).encode(),
                           event_id=envelope["id"]))
        if len(out) == n:
            break
    return out


# ------------------------------------------------------------------------------ test


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_published_pii_leaks_outside_the_vault(
    bootstrap: str, names: TopicNames, dsn: str, worker_env: dict[str, str],
    start_worker: Callable[..., Any], tmp_path: Path, log_format: str,
) -> None:
    now = datetime.now(UTC)
    # 10 h of traffic ending ~1 h from now: old cases breach SLA clocks; the surge window
    # (at 90 % of the spread) is the one holding now − 2 min, warm (深圳市 reports from
    # the first hour on, SPEC §4.5 v2) and kept open by the policy file's grace below
    run = generate(300, seed=8, start=now - timedelta(hours=9, minutes=2),
                   spread=timedelta(hours=10), surge_city="深圳市", surge_cases=45,
                   dup_fraction=0.05, shuffle_window=100)
    assert run.expected.complaints >= 10
    unsurveyed = unsurveyed_dispatches(run.events, run.expected.withdrawn)
    bad = invalid_events_with_pii()
    pii = build_pii([(e.topic, e.value) for e in run.events] + [(t, v) for t, _, v, _ in bad],
                    run.roster)
    kinds = {"phone in text" if p.kind.startswith("phone in") else p.kind for p in pii}
    assert {"policy_no", "incident.address", "incident.description", "reporter.name",
            "reporter.phone", "insured.name", "insured.id_number", "location.address",
            "reason", "description", "complainant.name", "complainant.phone",
            "adjuster name", "phone in text"} <= kinds, kinds

    roster = write_roster_csv(tmp_path / "roster.csv", run.roster)
    env = dict(worker_env, CLAIMDESK_LOG_LEVEL="DEBUG", CLAIMDESK_LOG_FORMAT=log_format)
    loaded = subprocess.run([sys.executable, "-m", "workers.cli", "roster", "load", str(roster)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    # monitor checks every 2 s; the surge window closes 30 min after its end, not 2 min: with
    # the default grace it closed 0-10 min after the start (wall-clock minute), often before
    # the worker counted the burst, and a closed window opens no surge (SPEC §4.5)
    policy = tmp_path / "policy.toml"
    policy.write_text('[defaults.backlog]\ncheck_interval = "2s"\n\n'
                      '[defaults.surge]\ngrace = "30m"\n', encoding="utf-8")
    worker = start_worker(CLAIMDESK_LOG_LEVEL="DEBUG", CLAIMDESK_POLICY_FILE=str(policy),
                          CLAIMDESK_LOG_FORMAT=log_format, CLAIMDESK_PROGRESS_SECONDS="2")
    publish_run(bootstrap, names, run)
    publish(bootstrap, names.name("dispatch-requested"), [(e.key, e.value) for e in unsurveyed])
    for topic, key, value, _ in bad:
        publish(bootstrap, names.name(topic), [(key, value)])

    distinct = len({e.event_id for e in run.events + unsurveyed})

    def count(sql: str) -> int:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: count("SELECT count(*) FROM inbox") >= distinct, timeout=180,
               what=f"{distinct} events in the inbox")
    wait_until(lambda: count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0,
               what="outbox relayed")
    done = datetime.now(UTC).isoformat()
    wait_until(lambda: count(f"SELECT count(*) FROM monitor_runs WHERE last_run_at > '{done}'"),
               what="a monitor round after the run")
    wait_until(lambda: count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0,
               what="alerts relayed")
    assert count("SELECT count(*) FROM alerts WHERE kind = 'surge'") > 0, \
        "the surge alert (summary, staffing) was not raised"

    # -- collect every place a leak could be -------------------------------------------
    log_lines = worker.log().splitlines()
    if log_format == "json":  # one JSON object per line, every line; scan decoded strings too
        decoded = [json.loads(line) for line in log_lines]
        assert all(isinstance(d, dict) and {"time", "level", "logger", "message"} <= set(d)
                   for d in decoded)
        assert any(d.get("event") == "progress" for d in decoded), "no progress line logged"
        log_lines += [s for d in decoded for s in _strings(d)]
    else:
        assert "progress: " in worker.log()
    assert "claimdesk worker is running" in worker.log()
    texts: dict[str, list[str]] = {
        "worker log": log_lines,
        "roster load output": (loaded.stdout + loaded.stderr).splitlines(),
        "GET /metrics": _http(worker.port, "/metrics").splitlines(),
        "GET /": [_http(worker.port, "/")],
        "GET /healthz": [_http(worker.port, "/healthz")],
    }
    texts["GET / (unescaped)"] = [html.unescape(texts["GET /"][0])]
    for rel, cells in _db_texts(dsn, exclude={"pii_vault"}).items():
        texts[f"table/view {rel}"] = cells
    n_out = {t: count(f"SELECT count(*) FROM outbox WHERE topic = '{t}'")
             for t in (ALERTS, DISPATCH_ASSIGNED, PAYOUT_APPROVED, ESCALATIONS)}
    with psycopg.connect(dsn) as c:  # diagnostics for the assertion below
        dbg = (c.execute("SELECT topic, count(*) FROM outbox GROUP BY 1").fetchall(),
               c.execute("SELECT status, count(*) FROM dispatches GROUP BY 1").fetchall(),
               c.execute("SELECT count(*) FROM adjusters").fetchall())
    assert all(n_out.values()), (n_out, dbg, loaded.stdout, loaded.stderr[-2000:])
    for topic, n in n_out.items():
        records = read_all(bootstrap, names.name(topic), expect=n)
        texts[f"topic {topic}"] = list(_records_texts(records))
    # v2 (SPEC §8): customer notices carry the recipient's name and phone (and a complaint
    # extension's reason) — filled at publish time — and no other PII anywhere
    n_notices = count(f"SELECT count(*) FROM outbox WHERE topic = '{CUSTOMER_NOTICES}'")
    assert n_notices > 0
    notices = [json.loads(r.value) for r in
               read_all(bootstrap, names.name(CUSTOMER_NOTICES), expect=n_notices)]
    recipients = {(n["data"]["to"]["name"], n["data"]["to"]["phone"]) for n in notices}
    assert all(name and phone for name, phone in recipients)  # filled from the vault
    for n in notices:
        n["data"]["to"].update(name=None, phone=None)
        n["data"]["params"].pop("reason", None)
    texts[f"topic {CUSTOMER_NOTICES} (but to.name, to.phone)"] = [
        json.dumps(n, ensure_ascii=False) for n in notices]
    dead: dict[str, list[Consumed]] = {}
    for topic in INPUT_TOPICS:
        expect = sum(1 for t, *_ in bad if t == topic)
        dead[topic] = read_all(bootstrap, names.dlt(topic), expect=expect) if expect else []
        texts[f"DLT headers {topic}"] = list(_records_texts(dead[topic], values=False))
    codes = sorted(d.headers["claimdesk.error.code"].decode() for recs in dead.values()
                   for d in recs)
    assert codes == sorted(code for *_, code in bad)
    assert worker.proc.poll() is None

    # -- scan ------------------------------------------------------------------------------
    scanner = Scanner(pii)
    hits = [h for source, items in texts.items() for h in scanner.scan(source, items)]
    report = "\n".join(f"{h.source}: {h.pii.kind} {h.pii.value!r} in …{h.context}…"
                       for h in hits[:30])
    assert hits == [], f"{len(hits)} PII hits:\n{report}"
    assert scanner.scanned["worker log"] > 100
    assert all(scanner.scanned[f"table/view {v}"] > 0 for v in (
        "rm_cases", "rm_case_timeline", "rm_dispatches", "rm_complaints", "rm_reviews",
        "rm_alerts", "rm_payouts", "rm_sla_clocks", "rm_adjuster_load", "rm_notices"))
    people = {(d[who]["name"], d[who]["phone"])
              for e in run.events if e.topic in ("case-reported", "complaint-filed")
              for d in [json.loads(e.value)["data"]]
              for who in ("reporter", "complainant") if who in d}
    assert recipients and recipients <= people  # positive control: the real recipients

    # -- positive controls: the scanner does find PII where it must be ----------------------
    vault = _db_texts(dsn, exclude=set(_relations_but_vault(dsn)))["pii_vault"]
    in_vault = {h.pii.value for h in scanner.scan("control: pii_vault", vault)}
    applied = {p.value for p in build_pii([(e.topic, e.value) for e in run.events], run.roster)}
    assert in_vault == applied, (len(in_vault), len(applied), sorted(applied - in_vault)[:5])
    dlt_values = [t for recs in dead.values() for t in _records_texts(recs)]
    assert scanner.scan("control: DLT values", dlt_values), "DLT values hold the original bytes"
    _assert_masked_forms(dsn, run.events, run.roster)


def _relations_but_vault(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relname <> 'pii_vault'").fetchall()]


def _assert_masked_forms(dsn: str, events: Iterable[Any], roster: list[dict[str, str]]) -> None:
    """Where a view shows a person, it shows the SPEC §8 masked form."""
    policies = {}
    for e in events:
        if e.topic == "case-reported":
            d = json.loads(e.value)["data"]
            policies[d["case_id"]] = d["policy_no"]
    with psycopg.connect(dsn) as conn:
        shown = dict(conn.execute("SELECT case_id, policy_no_masked FROM rm_cases").fetchall())
        names = dict(conn.execute("SELECT adjuster_id, name_masked FROM rm_adjuster_load"
                                  ).fetchall())
    assert shown == {c: mask_policy_no(p) for c, p in policies.items()}
    assert all(re.fullmatch(r"\*{4}\d{4}", v) for v in shown.values())
    assert names == {r["adjuster_id"]: mask_name(r["name"]) for r in roster}
    # the SPEC's own examples
    assert (mask_phone("13812345678"), mask_name("张伟"), mask_name("欧阳娜娜"),
            mask_id_number("11010519491231002X"), mask_policy_no("PDAA202644030000004567")) == (
        "138****5678", "张*", "欧阳**", "110***********002X", "****4567")


@pytest.mark.parametrize(("value", "text", "hit"), [
    ("张伟", "reporter 张伟 called", True),
    ("张伟", "name=张伟,", True),
    ("高新", "district 高新区", False),  # a 2-character name inside a longer word
    ("13812345678", "phone=13812345678", True),
    ("13812345678", "offset 9913812345678", False),
    ("13812345678", "138****5678", False),
    ("福田区彩田路 100 号", "addr 福田区彩田路 100 号 x", True),
])
def test_the_scanner_matches_whole_values(value: str, text: str, hit: bool) -> None:
    pii = [Pii(value, "t", _pattern(value))]
    assert bool(Scanner(pii).scan("t", [text])) is hit
