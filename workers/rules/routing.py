"""Dispatch routing (SPEC §4.2): who gets a survey, and queue draining.

Eligible: active, has the skill, load < capacity, and serves the dispatch's
city; only when nobody in the city is eligible, adjusters whose ``province``
is the dispatch's province are considered. A preferred adjuster wins when
eligible under that same rule (so a province-only preferred adjuster wins only
when the city has nobody). Among the eligible: lowest load/capacity (exact
rational comparison), then longest since last assignment (never assigned is
longest), then ``adjuster_id``.

Route reasons are human-readable and carry no PII (no names, no addresses; the
city, skill, load and timing only), e.g.
``深圳市 auto: load 0/6, never assigned, lowest id among 2 eligible``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Adjuster:
    """One roster entry plus its current load."""

    adjuster_id: str
    province: str
    cities: frozenset[str]
    skills: frozenset[str]
    capacity: int
    active: bool = True
    load: int = 0
    last_assigned_at: datetime | None = None


@dataclass(frozen=True)
class DispatchRequest:
    """What routing needs from a dispatch.requested event."""

    dispatch_id: str
    skill: str
    province: str
    city: str
    urgency: str
    requested_at: datetime
    preferred_adjuster_id: str | None = None


@dataclass(frozen=True)
class RouteDecision:
    """An assignment (``adjuster_id`` set) or ``queued`` (``adjuster_id`` is None)."""

    adjuster_id: str | None
    reason: str

    @property
    def queued(self) -> bool:
        """True when nobody was eligible."""
        return self.adjuster_id is None


def route_dispatch(req: DispatchRequest, adjusters: Iterable[Adjuster]) -> RouteDecision:
    """Pick the adjuster for ``req`` or queue it (SPEC §4.2)."""
    roster = list(adjusters)
    pool, fallback = _pool(req, roster)
    label = f"{req.city} {req.skill}"
    if fallback:
        label += f" (none eligible in city, {req.province} fallback)"
    if not pool:
        return RouteDecision(
            None,
            f"{req.city} {req.skill}: queued, no eligible adjuster in {req.city} or {req.province}",
        )
    preferred = req.preferred_adjuster_id
    if preferred is not None:
        chosen = next((a for a in pool if a.adjuster_id == preferred), None)
        if chosen is not None:
            return RouteDecision(
                chosen.adjuster_id, f"{label}: preferred adjuster, {_describe(chosen)}"
            )
    ranked = sorted(pool, key=rank_key)
    winner = ranked[0]
    reason = f"{label}: {_describe(winner)}, {_decider(ranked)}"
    if preferred is not None:
        reason += " (preferred adjuster not eligible)"
    return RouteDecision(winner.adjuster_id, reason)


def rank_key(adjuster: Adjuster) -> tuple[Fraction, int, datetime, str]:
    """Sort key among eligible adjusters: load ratio, last assignment, id."""
    ratio = _ratio(adjuster.load, adjuster.capacity) if adjuster.capacity > 0 else _ONE
    last = adjuster.last_assigned_at
    return (ratio, 0 if last is None else 1, last or _NEVER, adjuster.adjuster_id)


_ONE = Fraction(1)


@functools.lru_cache(maxsize=4096)
def _ratio(load: int, capacity: int) -> Fraction:
    """``Fraction(load, capacity)``, memoised: a roster has a few (load, capacity) pairs and
    every routing ranks the whole pool (Fractions are immutable, so sharing one is safe)."""
    return Fraction(load, capacity)


def queue_order_key(
    urgency: str, requested_at: datetime, dispatch_id: str
) -> tuple[int, datetime, str]:
    """Drain order of queued dispatches: urgent first, then ``requested_at``, then id."""
    return (0 if urgency == "urgent" else 1, requested_at, dispatch_id)


def drain_queue(
    queued: Sequence[DispatchRequest], adjusters: Iterable[Adjuster], decided_at: datetime
) -> list[tuple[str, RouteDecision]]:
    """Assign queued dispatches in queue order as far as capacity allows.

    Works on a copy of the roster: each assignment raises that adjuster's load
    and sets its ``last_assigned_at`` to ``decided_at``. Returns only the
    dispatches that got an adjuster, in assignment order; the rest stay queued.
    """
    roster = {a.adjuster_id: a for a in adjusters}
    assigned: list[tuple[str, RouteDecision]] = []
    order = sorted(queued, key=lambda r: queue_order_key(r.urgency, r.requested_at, r.dispatch_id))
    for req in order:
        decision = route_dispatch(req, roster.values())
        if decision.adjuster_id is None:
            continue
        chosen = roster[decision.adjuster_id]
        roster[chosen.adjuster_id] = replace(
            chosen, load=chosen.load + 1, last_assigned_at=decided_at
        )
        assigned.append((req.dispatch_id, decision))
    return assigned


def is_available(adjuster: Adjuster, skill: str) -> bool:
    """Active, has ``skill`` and has free capacity (location not considered)."""
    return adjuster.active and skill in adjuster.skills and adjuster.load < adjuster.capacity


def _pool(req: DispatchRequest, roster: list[Adjuster]) -> tuple[list[Adjuster], bool]:
    """The eligible adjusters and whether the province fallback was used."""
    skill = req.skill  # is_available inlined: this scans the whole roster per dispatch
    available = [a for a in roster if a.active and skill in a.skills and a.load < a.capacity]
    in_city = [a for a in available if req.city in a.cities]
    if in_city:
        return in_city, False
    return [a for a in available if a.province == req.province], True


def _describe(adjuster: Adjuster) -> str:
    last = adjuster.last_assigned_at
    when = "never assigned" if last is None else f"last assigned {last.isoformat()}"
    return f"load {adjuster.load}/{adjuster.capacity}, {when}"


def _decider(ranked: list[Adjuster]) -> str:
    """Which criterion separated the winner from the runner-up."""
    if len(ranked) == 1:
        return "only eligible"
    first, second = rank_key(ranked[0]), rank_key(ranked[1])
    if first[0] != second[0]:
        criterion = "lowest load"
    elif first[1:3] != second[1:3]:
        criterion = "longest since last assignment"
    else:
        criterion = "lowest id"
    return f"{criterion} among {len(ranked)} eligible"
