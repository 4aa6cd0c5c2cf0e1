"""The insurer-traffic simulator: validity, determinism, mix, surge, tally, roster, publishing."""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas import INPUT_EVENTS
from tests.conftest import contract_dir
from workers.sim import live as live_mod
from workers.sim import publish as publish_mod
from workers.simulate import (
    CITIES,
    CST,
    ROSTER_FIELDS,
    LiveSim,
    SimEvent,
    SimRun,
    adjusters_by_city,
    find_city,
    generate,
    publish_run,
    roster,
    summary,
    write_roster_csv,
)

START = datetime(2026, 11, 21, 8, 0, tzinfo=CST)
SPREAD = timedelta(hours=24)
N = 5000
_TS = re.compile(r'"(\d{4}-\d{2}-\d{2}T[^"]*)"')
_ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _data(event: SimEvent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(event.value)["data"]
    return body


@pytest.fixture(scope="module")
def plain() -> SimRun:
    """5,000 cases over a day, in data-time order."""
    return generate(N, seed=42, start=START, spread=SPREAD)


@pytest.fixture(scope="module")
def messy() -> SimRun:
    """A surge, duplicates and shuffled delivery."""
    return generate(2000, seed=7, start=START, spread=SPREAD, surge_city="深圳市",
                    surge_cases=100, dup_fraction=0.02, shuffle_window=200)


def _by_topic(run: SimRun) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in run.events:
        if not event.duplicate:
            out[event.topic].append(_data(event))
    return out


def test_every_event_validates_and_envelope_is_consistent(plain: SimRun, messy: SimRun) -> None:
    for run in (plain, messy):
        for event in run.events:
            parsed = INPUT_EVENTS[event.topic].model_validate_json(event.value)
            assert parsed.subject_key == event.key == parsed.subject
            assert parsed.data_time == event.data_time
            assert parsed.id == event.event_id
            assert re.fullmatch(r"(insurer/[A-Z]+/[a-z-]+|center/[a-z/-]+|payment/[A-Z]+/[a-z-]+)",
                                parsed.source)
            assert all(t.endswith("+08:00") for t in _TS.findall(event.value.decode()))


def test_deterministic_for_a_seed(plain: SimRun) -> None:
    again = generate(N, seed=42, start=START, spread=SPREAD)
    assert [e.value for e in again.events] == [e.value for e in plain.events]
    assert again.expected == plain.expected
    other = generate(50, seed=43, start=START, spread=SPREAD)
    assert {e.key for e in other.events}.isdisjoint({e.key for e in plain.events})


def test_ids_unique_except_intended_duplicates(messy: SimRun) -> None:
    originals = [e for e in messy.events if not e.duplicate]
    dups = [e for e in messy.events if e.duplicate]
    assert len({e.event_id for e in originals}) == len(originals)
    assert len(dups) == messy.expected.duplicates_sent == round(0.02 * len(originals))
    by_id = {e.event_id: e.value for e in originals}
    assert all(by_id[d.event_id] == d.value for d in dups)
    topics = _by_topic(messy)
    for topic, field in (("case-reported", "case_id"), ("dispatch-requested", "dispatch_id"),
                         ("review-completed", "review_id"), ("complaint-filed", "complaint_id")):
        ids = [d[field] for d in topics[topic]]
        assert len(set(ids)) == len(ids), topic


def _share(counter: Counter[str], key: str) -> float:
    return counter[key] / sum(counter.values())


def test_mix_proportions(plain: SimRun) -> None:
    t = _by_topic(plain)
    cases = t["case-reported"]
    assert len(cases) == N
    lines = Counter(c["line"] for c in cases)
    for line, share in {"auto": 0.60, "property": 0.15, "cargo": 0.05, "liability": 0.07,
                        "health": 0.08, "agriculture": 0.05}.items():
        assert abs(_share(lines, line) - share) < 0.025, line
    insurers = Counter(c["insurer"] for c in cases)
    assert set(insurers) == {"PICC", "PINGAN", "CPIC", "CHINALIFE", "TAIPING"}
    assert insurers.most_common(1)[0][0] in ("PICC", "PINGAN")
    auto = [c for c in cases if c["line"] == "auto"]
    assert 0.04 < sum(c["loss"]["injuries"] > 0 for c in auto) / len(auto) < 0.08
    amounts = [Decimal(c["loss"]["estimated_amount"]) for c in cases]
    assert all(re.fullmatch(r"\d+\.\d{2}", c["loss"]["estimated_amount"]) for c in cases)
    assert 5000 < statistics.median(amounts) < 7200
    assert max(amounts) > 100 * statistics.median(amounts)  # long tail
    assert all(a <= Decimal("999999999.99") for a in amounts)
    assert 0.87 < len(t["dispatch-requested"]) / N < 0.93
    urgency = Counter(d["urgency"] for d in t["dispatch-requested"])
    assert 0.2 < _share(urgency, "urgent") < 0.3
    assert any(d["skill"] == "heavy_vehicle" for d in t["dispatch-requested"])
    reviews = t["review-completed"]
    survey = Counter(r["decision"] for r in reviews if r["stage"] == "survey")
    assert 0.93 < _share(survey, "completed") < 0.97
    first = Counter(r["decision"] for r in reviews if r["review_id"].endswith("initial-1"))
    for decision, share in {"approved": 0.78, "rejected": 0.07, "documents_requested": 0.10,
                            "escalated": 0.05}.items():
        assert abs(_share(first, decision) - share) < 0.025, decision
    case_reviews = [r for r in reviews if r["stage"] != "complaint"]
    assert 0.02 < sum(r.get("disputed", False) for r in case_reviews) / len(case_reviews) < 0.04
    assert 0.04 < len(t["complaint-filed"]) / N < 0.06
    assert sum(c["cat_code"] == "TY-2026-21" for c in cases if "cat_code" in c) > 10


def test_generated_pii_looks_real(plain: SimRun) -> None:
    for case in _by_topic(plain)["case-reported"][:2000]:
        for person in (case["reporter"], case["insured"]):
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", person["name"])
        assert re.fullmatch(r"1[358]\d{9}", case["reporter"]["phone"])
        rid = case["insured"]["id_number"]
        total = sum(int(d) * w for d, w in zip(rid[:17], _ID_W, strict=True))
        assert rid[17] == "10X98765432"[total % 11]
        assert 1940 < int(rid[6:10]) < 2010
        assert case["policy_no"].startswith("P") and len(case["policy_no"]) == 22


def test_surge_concentrates_in_one_window(messy: SimRun) -> None:
    cases = _by_topic(messy)["case-reported"]
    windows: Counter[tuple[str, str]] = Counter()
    for c in cases:
        at = datetime.fromisoformat(c["reported_at"])
        windows[(c["incident"]["city"], at.strftime("%d %H:") + str(at.minute // 10))] += 1
    (city, window), count = windows.most_common(1)[0]
    assert city == "深圳市" and count >= 100
    assert windows.most_common(2)[1][1] < 20
    window_day_hour = START + SPREAD * 0.9
    assert window.startswith(window_day_hour.strftime("%d %H:"))
    assert messy.expected.cases_by_city[("广东省", "深圳市")] >= 100
    sz = {c["case_id"] for c in cases if c["incident"]["city"] == "深圳市"}
    assert messy.expected.surge_sensitive <= sz
    with pytest.raises(ValueError, match="unknown city"):
        generate(1, seed=1, start=START, spread=SPREAD, surge_city="火星市", surge_cases=5)


def test_expected_tally_matches_events(messy: SimRun) -> None:
    t, exp = _by_topic(messy), messy.expected
    assert exp.cases == len(t["case-reported"]) == len(exp.status)
    assert exp.dispatches == len(t["dispatch-requested"])
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for r in t["review-completed"]:
        counted[r["stage"]][r["decision"]] += 1
    assert dict(counted) == dict(exp.reviews)
    assert exp.survey_reviews == sum(counted["survey"].values()) == exp.review_count("survey")
    assert exp.complaints == len(t["complaint-filed"]) == exp.review_count("complaint")
    assert exp.complaints_without_case == sum("case_id" not in c for c in t["complaint-filed"])
    assert 0 < exp.complaints_without_case < exp.complaints / 4
    assert exp.events == Counter({k: len(v) for k, v in t.items()})
    approved = {r["case_id"]: r for r in t["review-completed"] if r["decision"] == "approved"}
    for case_id in exp.payouts:
        assert exp.status[case_id] in ("approved", "closed")
        assert Decimal(approved[case_id]["amount"]) > 0
    assert exp.payout_sum == sum(exp.payouts.values()) and exp.payout_count == len(exp.payouts)
    assert set(exp.status.values()) == {"approved", "rejected", "closed", "withdrawn"}
    # v2: settlements of payouts only, withdrawals of undecided cases only
    settled = t["payment-settled"]
    assert exp.settlements == Counter(d["status"] for d in settled)
    assert {d["case_id"] for d in settled} <= set(exp.payouts)
    assert {d["case_id"] for d in t["case-withdrawn"]} == exp.withdrawn
    assert all(exp.status[c] == "withdrawn" and c not in exp.payouts for c in exp.withdrawn)
    assert {c for c, s in exp.status.items() if s == "closed"} == {
        c for c, s in exp.payout_status.items() if s == "paid"}
    assert set(exp.approval_path.values()) == {"fast_track", "standard", "joint"}
    assert summary(exp)["payouts"] == exp.payout_count


def test_lifecycle_order_per_case(plain: SimRun) -> None:
    times = [e.data_time for e in plain.events]
    assert times == sorted(times)
    rank = {"case-reported": 0, "dispatch-requested": 1, "case-withdrawn": 6,
            "payment-settled": 6}
    stage_rank = {"survey": 2, "initial": 3, "second": 4, "joint": 5}
    last: dict[str, tuple[int, datetime]] = {}
    reported: dict[str, datetime] = {}
    for event in plain.events:
        d = _data(event)
        if event.topic in ("complaint-filed", "callback-completed") or (
                d.get("stage") == "complaint"):  # not part of the review chain
            if "case_id" in d:
                assert event.data_time > reported[d["case_id"]]
            continue
        r = rank[event.topic] if event.topic in rank else stage_rank[d["stage"]]
        case_id = d["case_id"]
        if r == 0:
            reported[case_id] = event.data_time
            occurred = datetime.fromisoformat(d["incident"]["occurred_at"])
            assert occurred < event.data_time
        else:
            prev_rank, prev_time = last[case_id]
            assert r >= prev_rank and event.data_time > prev_time
        last[case_id] = (r, event.data_time)


def test_roster_covers_every_simulated_city(tmp_path: Path, plain: SimRun) -> None:
    rows = roster(42)
    assert rows == plain.roster == roster(42)
    ids = [r["adjuster_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ADJ-[A-Z]{2}-\d{4}", i) for i in ids)
    for city in CITIES:
        staff = [r for r in rows if r["active"] == "true" and city.name in r["cities"].split(";")]
        assert staff, city.name
        skills = {s for r in staff for s in r["skills"].split(";")}
        assert skills == {"auto", "property", "cargo", "liability", "health", "agriculture",
                          "heavy_vehicle"}, city.name
    path = write_roster_csv(tmp_path / "roster.csv", rows)
    sample = contract_dir() / "roster.sample.csv"
    header = ",".join(ROSTER_FIELDS)
    assert sample.read_text(encoding="utf-8").splitlines()[0] == header
    with path.open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == rows
    known = set(ids)
    t = _by_topic(plain)
    surveyors = {r["reviewer_id"] for r in t["review-completed"] if r["stage"] == "survey"}
    against = {c["against_adjuster_id"] for c in t["complaint-filed"] if "against_adjuster_id" in c}
    assert surveyors <= known and against and against <= known
    served = adjusters_by_city(rows)
    assert all(city.name in served for city in CITIES)


def _replay(run: SimRun) -> tuple[dict[str, str], dict[str, tuple[Decimal, str]]]:
    """A minimal consumer with the workers' rules: dedupe, parking by data time, then apply."""
    cl = pytest.importorskip("workers.rules.case_lifecycle")
    policy = pytest.importorskip("workers.rules.policy").Policy()
    states: dict[str, Any] = {}
    parked: dict[str, list[tuple[datetime, str, dict[str, Any], str]]] = defaultdict(list)
    payouts: dict[str, tuple[Decimal, str]] = {}
    seen: set[str] = set()

    pay = pytest.importorskip("workers.rules.payments")
    withdrawal = pytest.importorskip("workers.rules.withdrawal")
    settled: dict[str, list[Any]] = defaultdict(list)
    waiting: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def apply(topic: str, d: dict[str, Any]) -> None:
        cid, st = d["case_id"], states[d["case_id"]]
        if topic == "dispatch-requested":
            states[cid] = cl.on_dispatch_requested(st).state
            return
        if topic == "case-withdrawn":
            w = withdrawal.decide_withdrawal(st, cid in payouts,
                                             datetime.fromisoformat(d["withdrawn_at"]), None)
            assert w.accepted, cid
            states[cid] = w.state
            return
        if topic == "payment-settled" and cid not in payouts:  # parked until the payout
            waiting[cid].append(d)
            return
        if topic == "payment-settled":
            settled[cid].append(pay.Settlement(d["settlement_id"], d["status"],
                                               datetime.fromisoformat(d["settled_at"])))
            closed = pay.payout_state(settled[cid]).closed_at is not None
            states[cid] = replace(st, status=cl.CaseStatus.CLOSED if closed
                                  else cl.CaseStatus.APPROVED)
            return
        if d["stage"] == "survey":
            tr = (cl.on_survey_completed(st, d.get("disputed", False))
                  if d["decision"] == "completed" else cl.on_survey_unable(st))
        else:
            review = cl.ReviewInput(
                d["review_id"], cl.Stage(d["stage"]), cl.Decision(d["decision"]),
                datetime.fromisoformat(d["completed_at"]),
                Decimal(d["amount"]) if "amount" in d else None, d.get("disputed", False))
            tr = cl.decide_review(st, review, policy, False)
        # a survey overtaken by the case's withdrawal (other topic) is refused: §4.9
        assert tr.accepted or st.status is cl.CaseStatus.WITHDRAWN, (cid, d["review_id"])
        states[cid] = tr.state
        if tr.payout is not None:
            payouts[cid] = (tr.payout.amount, tr.payout.approval_path.value)
            for body in sorted(waiting.pop(cid, []), key=lambda b: b["settled_at"]):
                apply("payment-settled", body)

    for event in run.events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        d = _data(event)
        if event.topic in ("complaint-filed", "callback-completed") or (
                d.get("stage") == "complaint"):
            continue
        if event.topic == "case-reported":
            states[d["case_id"]] = cl.apply_case_reported(
                d["loss"]["injuries"], bool(d.get("cat_code"))).state
            for _, _, body, topic in sorted(parked.pop(d["case_id"], []), key=lambda p: p[:2]):
                apply(topic, body)
        elif d["case_id"] not in states:
            parked[d["case_id"]].append((event.data_time, event.event_id, d, event.topic))
        else:
            apply(event.topic, d)
    return {c: s.status.value for c, s in states.items()}, payouts


@pytest.mark.parametrize("fixture", ["plain", "messy"])
def test_expected_outcomes_agree_with_workers_rules(fixture: str,
                                                    request: pytest.FixtureRequest) -> None:
    run: SimRun = request.getfixturevalue(fixture)
    statuses, payouts = _replay(run)
    loose = run.expected.surge_sensitive
    assert {c: s for c, s in statuses.items() if c not in loose} == {
        c: s for c, s in run.expected.status.items() if c not in loose}
    expected = {c: (a, run.expected.approval_path[c]) for c, a in run.expected.payouts.items()}
    assert payouts == expected


def test_shuffle_moves_events_but_keeps_partition_order(messy: SimRun) -> None:
    times = [e.data_time for e in messy.events]
    assert times != sorted(times)
    per_key: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for e in messy.events:
        if not e.duplicate:
            per_key[(e.topic, e.key)].append(e.data_time)
    assert all(ts == sorted(ts) for ts in per_key.values())
    first: dict[str, int] = {}
    early = 0
    for i, e in enumerate(messy.events):
        if e.topic == "case-reported":
            first[e.key] = i
    for i, e in enumerate(messy.events):
        early += e.topic != "case-reported" and i < first.get(e.key, -1)
    assert early > 0  # some events overtake their case: parking has work to do


def test_argument_checks() -> None:
    with pytest.raises(ValueError):
        generate(1, seed=1, start=datetime(2026, 1, 1), spread=SPREAD)
    with pytest.raises(ValueError):
        generate(1, seed=1, start=START, spread=SPREAD, dup_fraction=1.5)
    assert find_city("温州").name == "温州市"
    assert generate(0, seed=1, start=START, spread=SPREAD).events == []


# ------------------------------------------------------------------------- live mode


def test_live_sim_publishes_due_steps_at_wall_time() -> None:
    sim = LiveSim(rate_per_s=10, surge_city="温州市", time_scale=3600, seed=5, now=0.0)
    seen: list[tuple[float, SimEvent]] = []
    t = 0.0
    while t < 200:
        wall = START + timedelta(seconds=t)
        batch = sim.tick(t, wall)
        assert all(e.data_time == wall for e in batch)
        seen += [(t, e) for e in batch]
        t += 0.25
    for _, event in seen:
        INPUT_EVENTS[event.topic].model_validate_json(event.value)
    topics = Counter(e.topic for _, e in seen)
    assert topics["case-reported"] > 2000 and topics["review-completed"] > 1000
    wz = [t_ for t_, e in seen
          if e.topic == "case-reported" and _data(e)["incident"]["city"] == "温州市"]
    densest = max(sum(1 for x in wz if s <= x < s + 60) for s in wz)
    assert densest >= 60  # a burst of 60-120 cases within one minute
    order: dict[str, list[str]] = defaultdict(list)
    for _, e in seen:
        if e.topic not in ("complaint-filed", "callback-completed") and (
                _data(e).get("stage") != "complaint"):
            order[e.key].append(e.topic)
    assert all(topics_[0] == "case-reported" for topics_ in order.values())
    with pytest.raises(ValueError):
        LiveSim(rate_per_s=1, surge_city="火星市")


def test_live_loop_stops_promptly_and_retries() -> None:
    sim = LiveSim(rate_per_s=400, surge_city=None, time_scale=3600, seed=1)
    stop = threading.Event()
    sent: list[SimEvent] = []
    calls = {"n": 0}
    failed: list[str] = []

    class Down(Exception):
        pass

    def publish(event: SimEvent) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            failed.append(event.event_id)
            raise Down()
        sent.append(event)
        if len(sent) >= 200:
            stop.set()

    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(
        live_mod._loop(sim, publish, stop, (Down,))))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and result == [len(sent)] and len(sent) >= 200
    assert len({e.event_id for e in sent}) == len(sent)
    assert sent[2].event_id == failed[0]  # the refused record was retried, in order
    idle = LiveSim(rate_per_s=0.01, surge_city=None, seed=2)
    stop = threading.Event()
    worker = threading.Thread(target=live_mod._loop, args=(idle, sent.append, stop, (Down,)))
    worker.start()
    stop.set()
    began = time.monotonic()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - began < 1.0


# --------------------------------------------------------------------------- publish


class _Future:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def add_errback(self, fn: Any) -> None:
        if self.error is not None:
            fn(self.error)


class _Producer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes, Any]] = []
        self.fail, self.flushed, self.closed = fail, False, False

    def send(self, topic: str, *, key: bytes, value: bytes, headers: Any) -> _Future:
        self.sent.append((topic, key, value, headers))
        return _Future(RuntimeError("boom") if self.fail else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed = True

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class _Names:
    def name(self, base: str) -> str:
        return f"t1.{base}"


def test_publish_run_sends_everything(monkeypatch: pytest.MonkeyPatch, messy: SimRun) -> None:
    producer = _Producer()
    monkeypatch.setattr(publish_mod, "make_producer", lambda *a, **k: producer)
    progress: list[tuple[int, int]] = []
    n = publish_run("broker:9092", _Names(), messy, progress=lambda i, t: progress.append((i, t)))
    assert n == len(messy.events) == len(producer.sent)
    assert producer.flushed and producer.closed
    assert progress[-1] == (n, n) and progress[0] == (1000, n)
    topic, key, _, headers = producer.sent[0]
    assert topic == f"t1.{messy.events[0].topic}" and key == messy.events[0].key.encode()
    assert headers == [("content-type", b"application/cloudevents+json")]
    failing = _Producer(fail=True)
    monkeypatch.setattr(publish_mod, "make_producer", lambda *a, **k: failing)
    with pytest.raises(RuntimeError, match="failed"):
        publish_run("broker:9092", _Names(), messy)
    assert failing.closed


def test_producer_settings_are_known_to_kafka_python(monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = pytest.importorskip("kafka")
    known = set(kafka.KafkaProducer.DEFAULT_CONFIG)
    captured: dict[str, Any] = {}
    monkeypatch.setattr(kafka, "KafkaProducer", lambda **kw: captured.update(kw))
    publish_mod.make_producer("broker:9092")
    assert captured and set(captured) <= known
    assert captured["linger_ms"] == 5 and captured["batch_size"] >= 256 * 1024


def test_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    from workers import simulate

    assert simulate.main(["--cases", "40", "--dry-run", "--start", "2026-11-21T08:00:00+08:00",
                          "--roster-out", str(tmp_path / "r.csv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cases"] == 40 and (tmp_path / "r.csv").exists()
    published: list[SimRun] = []
    monkeypatch.setattr(simulate, "publish_run", lambda b, n, run, **k: published.append(run))
    cli_args = argparse.Namespace(cases=30, seed=3, surge="杭州市", surge_cases=25, duplicates=0.1,
                                  shuffle=10, live=False, rate=20.0, roster_out=None)
    assert simulate.run_command(cli_args, "broker:9092", _Names()) == 0
    assert published[0].expected.cases == 55 and published[0].expected.duplicates_sent > 0


def test_live_ids_differ_between_runs_with_the_same_seed() -> None:
    def first_ids(salt: str) -> set[str]:
        sim = LiveSim(rate_per_s=50, surge_city=None, seed=1, now=0.0, salt=salt)
        events = sim.tick(5.0, START)
        return {e.event_id for e in events} | {e.key for e in events}

    assert first_ids("a") == first_ids("a")
    assert first_ids("a").isdisjoint(first_ids("b"))


def test_callback_answers_match_the_requests_claimdesk_will_make(plain: SimRun) -> None:
    """Same sampling rule, same ids (SPEC §4.10); one adjuster clearly worse."""
    from schemas import callback_id
    from workers.rules.callbacks import DISSATISFIED_MAX, is_sampled

    t = _by_topic(plain)
    answers = t["callback-completed"]
    assert answers and all(a["attempt"] in (1, 2, 3) for a in answers)
    surveyed = [r for r in t["review-completed"]
                if r["stage"] == "survey" and r["decision"] == "completed"]
    expected = {callback_id("dispatch", r["dispatch_id"]) for r in surveyed
                if is_sampled("dispatch", r["dispatch_id"], 20)}
    expected |= {callback_id("closing", r["case_id"]) for r in t["review-completed"]
                 if r["decision"] == "rejected"}
    first_paid: dict[str, str] = {}
    for st in sorted(t["payment-settled"], key=lambda x: x["settled_at"]):
        if st["status"] == "paid":
            first_paid.setdefault(st["case_id"], st["settled_at"])
    filed = defaultdict(list)
    for c in t["complaint-filed"]:
        if "case_id" in c:
            filed[c["case_id"]].append(c["filed_at"])
    expected |= {callback_id("closing", case) for case, at in first_paid.items()
                 if is_sampled("closing", case, 30) or any(
                     datetime.fromisoformat(f) <= datetime.fromisoformat(at)
                     for f in filed[case])}
    expected |= {callback_id("complaint", c["complaint_id"]) for c in t["complaint-filed"]}
    answered = {a["callback_id"] for a in answers}
    withdrawn = {w["case_id"] for w in t["case-withdrawn"]}
    unanswered = {callback_id("dispatch", r["dispatch_id"]) for r in surveyed
                  if r["case_id"] in withdrawn}  # the desk stops calling once told
    assert answered <= expected and expected - answered <= unanswered
    firsts = {a["callback_id"] for a in answers if a["attempt"] == 1}
    assert answered - unanswered <= firsts  # every callback starts at attempt 1
    assert any(a["outcome"] == "unreachable" for a in answers)
    adjuster_of = {callback_id("dispatch", r["dispatch_id"]): r["reviewer_id"] for r in surveyed}
    scores: dict[str, list[int]] = defaultdict(list)
    for a in answers:
        if a["outcome"] == "reached" and a["callback_id"] in adjuster_of:
            scores[adjuster_of[a["callback_id"]]].append(a["satisfaction"])
    share = {k: sum(s <= DISSATISFIED_MAX for s in v) / len(v) for k, v in scores.items()
             if len(v) >= 5}
    from workers.sim.callbacks import pick_bad_adjuster

    worst = max(share, key=lambda k: share[k])
    assert worst == pick_bad_adjuster(adjusters_by_city(plain.roster)) and share[worst] >= 0.4
    assert sorted(share.values())[len(share) // 2] < 0.1  # the others are mostly satisfied
    cases = t["case-reported"]
    assert 0.75 < sum("received_by" in c for c in cases) / len(cases) < 0.95
