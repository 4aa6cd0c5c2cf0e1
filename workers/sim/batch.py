"""Batch generation: a whole run of insurer traffic, in memory, with its expected tally."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from workers.sim import data, people
from workers.sim.data import City
from workers.sim.model import CST, CasePlan, Expected, SimEvent, SimRun
from workers.sim.plan import Planner
from workers.sim.roster import adjusters_by_city, roster
from workers.sim.settle import unsettle

_WINDOW = timedelta(minutes=10)


def find_city(name: str) -> City:
    """The simulated city called ``name`` (``深圳市`` or ``深圳``); ``ValueError`` if unknown."""
    for city in data.CITIES:
        if name in (city.name, city.name.removesuffix("市")):
            return city
    known = ", ".join(c.name for c in data.CITIES)
    raise ValueError(f"unknown city {name!r}; simulated cities: {known}")


def window_start(at: datetime) -> datetime:
    """Start of the 10-minute window (aligned to :00) containing ``at``."""
    return at.replace(minute=at.minute - at.minute % 10, second=0, microsecond=0)


def generate(
    n_cases: int,
    *,
    seed: int,
    start: datetime,
    spread: timedelta,
    surge_city: str | None = None,
    surge_cases: int = 0,
    dup_fraction: float = 0.0,
    shuffle_window: int = 0,
    adjusters: Iterable[Mapping[str, str]] | None = None,
) -> SimRun:
    """Generate a reproducible run of insurer traffic (pure: no I/O, no clock).

    ``n_cases`` cases are reported uniformly over [start, start + spread); each
    case's later events follow it in data time. With ``surge_city``,
    ``surge_cases`` more cases in that city are reported within one aligned
    10-minute window near the end of the spread. ``dup_fraction`` of the events
    are re-sent (same bytes) right after the original; ``shuffle_window`` > 1
    shuffles events within consecutive blocks of that size while keeping the
    order of events with the same topic and key (as a Kafka partition would).
    ``adjusters``: roster rows to draw adjuster ids from (default ``roster(seed)``).
    ``start`` must be timezone-aware; it is converted to +08:00, whole seconds.
    """
    _check(n_cases, start, spread, surge_cases, dup_fraction, shuffle_window)
    begin = start.astimezone(CST).replace(microsecond=0)
    rng = random.Random(seed)
    rows = [dict(r) for r in adjusters] if adjusters is not None else roster(seed)
    planner = Planner(rng, people.run_tag(rng), adjusters_by_city(rows))
    span = int(spread.total_seconds())
    times = sorted(begin + timedelta(seconds=rng.randrange(span)) for _ in range(n_cases))
    plans = [planner.case(at) for at in times]
    if surge_city is not None and surge_cases > 0:
        city = find_city(surge_city)
        window = window_start(begin + spread * 0.9)
        burst = sorted(window + timedelta(seconds=rng.randrange(600)) for _ in range(surge_cases))
        plans += [planner.case(at, city, weather=rng.random() < 0.5) for at in burst]
    sensitive = surge_sensitive(plans)
    for plan in plans:
        if plan.case_id in sensitive:
            unsettle(plan)
    indexed = [(s.offset + p.reported_at, i, s) for p in plans for i, s in enumerate(p.steps)]
    indexed.sort(key=lambda item: item[0])
    events = [step.render(at) for at, _, step in indexed]
    expected = tally(plans)
    events = _duplicate(events, dup_fraction, rng)
    expected.duplicates_sent = sum(e.duplicate for e in events)
    if shuffle_window > 1:
        events = shuffle_blocks(events, shuffle_window, rng)
    return SimRun(events, expected, rows, seed)


def _check(n_cases: int, start: datetime, spread: timedelta, surge_cases: int,
           dup_fraction: float, shuffle_window: int) -> None:
    if n_cases < 0 or surge_cases < 0 or shuffle_window < 0:
        raise ValueError("n_cases, surge_cases and shuffle_window must not be negative")
    if start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if spread < timedelta(seconds=1):
        raise ValueError("spread must be at least one second")
    if not 0.0 <= dup_fraction <= 1.0:
        raise ValueError("dup_fraction must be within [0, 1]")


def tally(plans: Sequence[CasePlan]) -> Expected:
    """The expected tally of a set of planned cases (duplicates not included)."""
    exp = Expected()
    for plan in plans:
        exp.cases += 1
        exp.cases_by_line[plan.line] += 1
        exp.cases_by_insurer[plan.insurer] += 1
        exp.cases_by_city[(plan.province, plan.city)] += 1
        exp.status[plan.case_id] = plan.status
        if plan.cat_code:
            exp.cat_cases.add(plan.case_id)
        if plan.payout is not None and plan.payout > 0 and plan.approval_path:
            exp.payouts[plan.case_id] = plan.payout
            exp.approval_path[plan.case_id] = plan.approval_path
            exp.payout_status[plan.case_id] = "approved"
        for step in plan.steps:
            exp.events[step.topic] += 1
            body = step.data
            if step.topic == "dispatch-requested":
                exp.dispatches += 1
            elif step.topic == "review-completed":
                exp.reviews.setdefault(body["stage"], Counter())[body["decision"]] += 1
                exp.survey_reviews += body["stage"] == "survey"
            elif step.topic == "complaint-filed":
                exp.complaints += 1
                exp.complaints_without_case += "case_id" not in body
                exp.complaints_against_adjuster += "against_adjuster_id" in body
            elif step.topic == "payment-settled":
                exp.settlements[body["status"]] += 1
                exp.payout_status[plan.case_id] = body["status"]  # steps in time order
                if body["status"] == "paid":
                    exp.paid_once.add(plan.case_id)
            elif step.topic == "case-withdrawn":
                exp.withdrawn.add(plan.case_id)
    exp.surge_sensitive = surge_sensitive(plans)
    return exp


def surge_sensitive(plans: Sequence[CasePlan]) -> set[str]:
    """Cases whose outcome depends on a surge-driven catastrophe mode (SPEC §4.3).

    A surge can only open for a city with ≥ 20 reports in one aligned
    10-minute window, and not before that window starts. A case of such a city
    whose first initial review comes later and whose initial approval lies
    between the normal and the catastrophe fast-track limits may be paid on the
    fast track instead of going to second review.
    """
    counts = Counter((p.province, p.city, window_start(p.reported_at)) for p in plans)
    first_hot: dict[tuple[str, str], datetime] = {}
    for (prov, city, window), n in counts.items():
        if n >= data.SURGE_MIN and window < first_hot.get((prov, city), window + _WINDOW):
            first_hot[(prov, city)] = window
    return {
        p.case_id for p in plans
        if p.cat_delta and p.initial_at is not None and (p.province, p.city) in first_hot
        and p.initial_at >= first_hot[(p.province, p.city)]
    }


def _duplicate(events: list[SimEvent], fraction: float, rng: random.Random) -> list[SimEvent]:
    """Insert a byte-identical re-send right after ``fraction`` of the events."""
    chosen = set(rng.sample(range(len(events)), round(fraction * len(events))))
    out: list[SimEvent] = []
    for i, event in enumerate(events):
        out.append(event)
        if i in chosen:
            out.append(dataclasses.replace(event, duplicate=True))
    return out


def shuffle_blocks(events: Sequence[SimEvent], window: int, rng: random.Random) -> list[SimEvent]:
    """Shuffle within blocks of ``window`` events, keeping per-(topic, key) order.

    Reviews may then precede their case (other topic) but never an earlier
    review of the same case, which one Kafka partition could not deliver.
    """
    out: list[SimEvent] = []
    for lo in range(0, len(events), window):
        block = list(events[lo:lo + window])
        queues: dict[tuple[str, str], deque[SimEvent]] = {}
        for event in block:
            queues.setdefault((event.topic, event.key), deque()).append(event)
        rng.shuffle(block)
        out.extend(queues[(e.topic, e.key)].popleft() for e in block)
    return out
