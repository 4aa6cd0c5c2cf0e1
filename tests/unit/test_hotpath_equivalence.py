"""Guards of the per-event CPU rewrites (issue 15): each fast function against the former
implementation, kept here as the reference.

Seen failing on deliberately broken builds: ``_uuid5`` with the variant mask ``0x3F``
changed to ``0x7F``; ``warn_offset`` ignoring its fraction (fixed 0.8); ``window_for`` with
``second_review`` mapped to ``initial_review``; ``ReviewFacts.payload`` without the
``amount`` conversion; ``ClockOp`` checking starts only (not extends); ``_pool`` with
``<=`` for ``<`` capacity; ``_ratio`` with its arguments swapped; ``timeline_row`` dropping
the case of events that also name a complaint.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.ids import _uuid5
from tests.conftest import contract_dir
from workers.handlers.callbacks import AttemptFacts
from workers.handlers.review_apply import ReviewFacts
from workers.rules.policy import SlaPolicy
from workers.rules.routing import _NEVER, Adjuster, DispatchRequest, _pool, is_available, rank_key
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset, window_for

# ------------------------------------------------------------------ references


def reference_uuid5(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def reference_warn_offset(window: timedelta, warn_fraction: Decimal) -> timedelta:
    micros = window // timedelta(microseconds=1)
    return timedelta(microseconds=int(micros * Fraction(warn_fraction)))


def reference_window_for(clock: Clock, policy: Any, urgency: str | None = None) -> timedelta:
    sla = policy.sla
    if clock is Clock.SURVEY:
        if urgency == "urgent":
            return sla.survey_urgent
        if urgency == "normal":
            return sla.survey_normal
        raise ValueError("the survey clock needs urgency 'urgent' or 'normal'")
    windows = {
        Clock.DISPATCH: sla.dispatch, Clock.INITIAL_REVIEW: sla.initial_review,
        Clock.SECOND_REVIEW: sla.second_review, Clock.JOINT_REVIEW: sla.joint_review,
        Clock.DETERMINATION: sla.determination, Clock.COMPLAINT: sla.complaint,
        Clock.PAYMENT: sla.payment, Clock.CALLBACK: sla.callback,
    }
    return windows[clock]


def reference_review_payload(f: ReviewFacts) -> dict[str, Any]:
    out = asdict(f)
    out["amount"] = None if f.amount is None else str(f.amount)
    out["completed_at"] = f.completed_at.isoformat()
    return out


def reference_attempt_payload(f: AttemptFacts) -> str:
    return json.dumps(asdict(f) | {"completed_at": f.completed_at.isoformat()})


# ---------------------------------------------------------------------- guards


@settings(max_examples=500)
@given(st.text(st.characters(codec="utf-8"), max_size=200))
def test_uuid5_equals_the_stdlib(name: str) -> None:
    assert _uuid5(name) == reference_uuid5(name)


def test_uuid5_refuses_what_the_stdlib_refuses() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference_uuid5("\ud800")
    with pytest.raises(UnicodeEncodeError):
        _uuid5("\ud800")


fractions = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1), places=4) | \
    st.sampled_from([Decimal("0.8"), Decimal("0.80"), Decimal("0.8000"), Decimal("1"),
                     Decimal("0.333333333333333333333")])
windows = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))


@settings(max_examples=500)
@given(st.lists(st.tuples(windows, fractions), min_size=1, max_size=20))
def test_warn_offset_equals_the_exact_arithmetic(calls: list[tuple[timedelta, Decimal]]) -> None:
    for window, fraction in calls * 2:  # twice: the second call is served by the memo
        assert warn_offset(window, fraction) == reference_warn_offset(window, fraction)


def test_warn_offset_errors_unchanged() -> None:
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")):
        with pytest.raises((ValueError, TypeError, OverflowError)) as ref:
            reference_warn_offset(timedelta(hours=1), bad)
        with pytest.raises(ref.type):
            warn_offset(timedelta(hours=1), bad)


@pytest.mark.parametrize("clock", list(Clock))
@pytest.mark.parametrize("urgency", [None, "urgent", "normal", "bad"])
def test_window_for_equals_the_former_table(clock: Clock, urgency: str | None) -> None:
    class P:
        sla = SlaPolicy(**{name: timedelta(minutes=n + 1) for n, name in enumerate(
            ["dispatch", "survey_urgent", "survey_normal", "initial_review", "second_review",
             "joint_review", "determination", "complaint", "payment", "callback"])})

    try:
        expected = reference_window_for(clock, P, urgency)
    except ValueError:
        with pytest.raises(ValueError):
            window_for(clock, P, urgency)
        return
    assert window_for(clock, P, urgency) == expected


amounts = st.none() | st.decimals(min_value=0, max_value=10**9, places=2)
times = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2099, 12, 30),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@settings(max_examples=200)
@given(amounts, times, st.lists(st.text(max_size=10), max_size=4), st.booleans())
def test_review_payload_equals_asdict(amount: Decimal | None, at: datetime,
                                      missing: list[str], disputed: bool) -> None:
    f = ReviewFacts("R-1", "initial", "approved", "C-1", None, "D-1", "U-1", amount, disputed,
                    len(missing), at, "src", "e-1", "h" * 32, tuple(missing))
    assert json.dumps(f.payload(), ensure_ascii=False) == json.dumps(
        reference_review_payload(f), ensure_ascii=False)
    assert ReviewFacts.from_payload(json.loads(json.dumps(f.payload()))) == f


@settings(max_examples=200)
@given(times, st.none() | st.integers(1, 5), st.booleans(), st.text(max_size=10))
def test_attempt_payload_equals_asdict(at: datetime, satisfaction: int | None, praise: bool,
                                       agent: str) -> None:
    f = AttemptFacts("CB-1", 2, "reached", satisfaction, praise, not praise, agent, at, "src",
                     "e-1", "h" * 32)
    assert f.payload() == reference_attempt_payload(f)


def reference_rank_key(adjuster: Adjuster) -> tuple[Fraction, int, datetime, str]:
    ratio = Fraction(adjuster.load, adjuster.capacity) if adjuster.capacity > 0 else Fraction(1)
    last = adjuster.last_assigned_at
    return (ratio, 0 if last is None else 1, last or _NEVER, adjuster.adjuster_id)


def reference_pool(req: DispatchRequest, roster: list[Adjuster]) -> tuple[list[Adjuster], bool]:
    available = [a for a in roster if is_available(a, req.skill)]
    in_city = [a for a in available if req.city in a.cities]
    if in_city:
        return in_city, False
    return [a for a in available if a.province == req.province], True


adjusters = st.builds(
    Adjuster, adjuster_id=st.sampled_from(["A", "B", "C", "D"]),
    province=st.sampled_from(["P1", "P2"]),
    cities=st.frozensets(st.sampled_from(["c1", "c2", "c3"]), max_size=3),
    skills=st.frozensets(st.sampled_from(["auto", "property"]), max_size=2),
    capacity=st.integers(-1, 6), active=st.booleans(), load=st.integers(0, 7),
    last_assigned_at=st.none() | st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC),
                                                  datetime(2026, 1, 2, tzinfo=UTC)]))
requests = st.builds(DispatchRequest, dispatch_id=st.just("D"),
                     skill=st.sampled_from(["auto", "property"]),
                     province=st.sampled_from(["P1", "P2"]), city=st.sampled_from(["c1", "c2"]),
                     urgency=st.just("urgent"),
                     requested_at=st.just(datetime(2026, 1, 3, tzinfo=UTC)))


@settings(max_examples=500)
@given(requests, st.lists(adjusters, max_size=8))
def test_routing_pool_and_rank_equal_the_former_rule(req: DispatchRequest,
                                                     roster: list[Adjuster]) -> None:
    assert _pool(req, roster) == reference_pool(req, roster)
    for a in roster:
        assert rank_key(a) == reference_rank_key(a)
    assert sorted(roster, key=rank_key) == sorted(roster, key=reference_rank_key)


def _reference_clock_op_check(op: Any, window: timedelta, warn: timedelta) -> Any:
    """The former ``ClockOp.__post_init__``: the op kind it stores, or the error raised."""
    from workers.rules.sla import ClockOpKind

    try:
        kind = ClockOpKind(op)
    except ValueError:
        return ValueError
    low = timedelta(0) if kind is ClockOpKind.EXTEND else timedelta(microseconds=1)
    if kind in (ClockOpKind.START, ClockOpKind.EXTEND) and not (
            window > timedelta(0) and low <= warn <= window):
        return ValueError
    return kind


@settings(max_examples=500)
@given(st.sampled_from(["start", "pause", "resume", "stop", "stop_earliest", "extend", "bad"])
       .flatmap(lambda v: st.sampled_from([v] + ([ClockOpKind(v)] if v != "bad" else []))),
       st.timedeltas(min_value=timedelta(-2), max_value=timedelta(2)),
       st.timedeltas(min_value=timedelta(-2), max_value=timedelta(2)))
def test_clock_op_checks_equal_the_former_ones(op: Any, window: timedelta,
                                              warn: timedelta) -> None:
    expected = _reference_clock_op_check(op, window, warn)
    if expected is ValueError:
        with pytest.raises(ValueError):
            ClockOp(op, "case", "C-1", "dispatch", datetime(2026, 1, 1, tzinfo=UTC), window, warn)
        return
    made = ClockOp(op, "case", "C-1", "dispatch", datetime(2026, 1, 1, tzinfo=UTC), window, warn)
    assert made.op is expected and type(made.op) is ClockOpKind


def _reference_timeline_row(item: Any, outcome: str, detail: str | None = None) -> Any:
    from workers.store.tables import TimelineRow

    data = item.event.data
    return TimelineRow(
        case_id=getattr(data, "case_id", None),
        complaint_id=getattr(data, "complaint_id", None),
        event_type=item.event.type, event_time=data.data_time, source=item.source,
        event_id=item.event_id, outcome=outcome, detail=detail)


def test_timeline_rows_equal_the_former_ones() -> None:
    from schemas import INPUT_EVENTS
    from workers.handlers.common import timeline_row
    from workers.records import Incoming, Record
    from workers.simulate import CST, generate

    run = generate(300, seed=5, start=datetime(2026, 11, 1, tzinfo=CST),
                   spread=timedelta(days=1))
    samples = [(e.topic, e.value) for e in run.events]
    for path in sorted(contract_dir().glob("*.json")):  # every input type, complaint reviews too
        raw = json.loads(path.read_text(encoding="utf-8"))
        topic = next((t for t, m in INPUT_EVENTS.items()
                      if raw.get("type") in str(m.model_fields["type"].annotation)), None)
        if topic is not None:
            samples.append((topic, path.read_bytes()))
    assert len({t for t, _ in samples}) == len(INPUT_EVENTS)
    for n, (topic, value) in enumerate(samples):
        item = Incoming(Record(topic, 0, n, None, value),
                        INPUT_EVENTS[topic].model_validate_json(value))
        assert timeline_row(item, "applied", "x") == _reference_timeline_row(item, "applied", "x")
