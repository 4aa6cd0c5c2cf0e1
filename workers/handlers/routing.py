"""Dispatch routing against Postgres: roster with live loads, assignment, queue drain.

Callers hold the routing lock of every province they route in (``common.lock_routing``,
or ``ROUTING_LOCK`` exclusively for all provinces), so loads read here cannot change
under them and load never exceeds capacity, whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from schemas import DispatchAssigned, dispatch_assigned_event_id
from topics import DISPATCH_ASSIGNED
from workers.context import HandlerContext
from workers.rules import notices
from workers.rules.routing import (
    Adjuster,
    DispatchRequest,
    RouteDecision,
    drain_queue,
    is_available,
    queue_order_key,
)
from workers.store.effects import Effects


async def load_roster(conn: AsyncConnection[Any], provinces: set[str]) -> dict[str, Adjuster]:
    """Adjusters of ``provinces`` with their current open-dispatch load."""
    if not provinces:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT a.adjuster_id, a.province, a.cities, a.skills, a.capacity,"
        " a.active AND a.in_roster AS active, a.last_assigned_at,"
        " (SELECT count(*)::int FROM dispatches d"
        "  WHERE d.adjuster_id = a.adjuster_id AND d.status = 'assigned') AS load"
        " FROM adjusters a WHERE a.province = ANY(%b)",
        (list(provinces),),
    )
    return {r["adjuster_id"]: Adjuster(**{**r, "cities": frozenset(r["cities"]),
                                          "skills": frozenset(r["skills"])})
            for r in await cur.fetchall()}


def take(roster: dict[str, Adjuster], decision: RouteDecision, at: datetime) -> None:
    """Count an assignment in the working roster."""
    if decision.adjuster_id is not None:
        a = roster[decision.adjuster_id]
        roster[a.adjuster_id] = replace(a, load=a.load + 1, last_assigned_at=at)


async def save_last_assigned(conn: AsyncConnection[Any], roster: dict[str, Adjuster],
                             before: dict[str, Adjuster]) -> None:
    """Persist ``last_assigned_at`` of the adjusters assigned since ``before`` (a copy of
    ``roster`` as loaded); only ever moves forward. A province's roster can hold hundreds
    of adjusters, of whom a batch assigns a few: write only those, in one statement."""
    rows = [(a.adjuster_id, a.last_assigned_at) for a in roster.values()
            if a.last_assigned_at is not None
            and a.last_assigned_at != before[a.adjuster_id].last_assigned_at]
    if rows:
        await conn.execute(
            "UPDATE adjusters a SET last_assigned_at = greatest(a.last_assigned_at, u.at)"
            " FROM unnest(%b::text[], %b::timestamptz[]) AS u(adjuster_id, at)"
            " WHERE a.adjuster_id = u.adjuster_id",
            ([r[0] for r in rows], [r[1] for r in rows]))


@dataclass(frozen=True)
class Announcement:
    """Facts for a dispatch.assigned event.

    ``reassigned``: the dispatch's count of ``reassigned`` events so far (this one
    included); ``displaced`` makes this announcement one of them (SPEC §4.2 v2).
    """

    dispatch_id: str
    case_id: str
    decision: RouteDecision
    survey_due_by: datetime
    reassigned: int = 0
    displaced: bool = False
    #: data time of the assignment's trigger (request, freeing survey, roster load)
    at: datetime | None = None


def announce(fx: Effects, a: Announcement, ctx: HandlerContext) -> None:
    """Queue dispatch.assigned (status assigned, queued or reassigned) in the outbox; a
    first assignment also tells the customer who comes and by when (``dispatch_assigned``
    notice; not on reassignment)."""
    status = ("reassigned" if a.displaced
              else "assigned" if a.decision.adjuster_id else "queued")
    data = DispatchAssigned(
        dispatch_id=a.dispatch_id, case_id=a.case_id, status=status,
        adjuster_id=a.decision.adjuster_id, decided_at=ctx.clock(),
        survey_due_by=a.survey_due_by, route_reason=a.decision.reason,
    )
    event_id = dispatch_assigned_event_id(a.dispatch_id, status, a.decision.adjuster_id,
                                          a.reassigned)
    fx.output("dispatch.assigned", DISPATCH_ASSIGNED, a.case_id, data, event_id, ctx.clock())
    if a.decision.adjuster_id is not None and a.at is not None and not a.displaced:
        fx.notice(notices.dispatch_assigned(a.case_id, a.dispatch_id, a.decision.adjuster_id,
                                            a.survey_due_by, a.at), ctx.clock())


#: Queued requests read per round trip by ``drain``; a drain usually fills the freed
#: capacity within the first page, so a long queue (a surge) is not read whole.
DRAIN_PAGE = 256

# Queue order of ``rules.routing.queue_order_key`` in SQL: urgent first, then requested_at,
# then dispatch_id by code point (COLLATE "C" compares UTF-8 bytes, as Python compares str).
_QUEUE_KEY = "(urgency <> 'urgent'), requested_at, dispatch_id COLLATE \"C\""


async def drain(conn: AsyncConnection[Any], provinces: set[str], at: datetime, ctx: HandlerContext,
                fx: Effects, displaced: frozenset[str] = frozenset(),
                assigned_ids: set[str] | None = None) -> int:
    """Assign queued dispatches of ``provinces`` as capacity allows; returns how many.

    Reads the queue in queue order, a page at a time, and stops as soon as nobody has
    free capacity for any request (loads only grow while it runs). Only requests whose
    (skill, city) or (skill, province) some adjuster could take at the start are read:
    the others cannot be assigned by this drain (see ``drain_assignable``). Returns how
    many were assigned (their ids are added to ``assigned_ids``); those in ``displaced``
    (re-routing, SPEC §4.2) are announced ``reassigned``, the others ``assigned`` (with the
    ``:<n>`` id suffix once re-routed).
    """
    if not provinces:
        return 0
    roster = await load_roster(conn, provinces)
    before = dict(roster)
    in_city, in_province = _covers(roster.values())
    assigned: list[tuple[str, RouteDecision]] = []
    info: dict[str, tuple[str, datetime, int]] = {}
    after: tuple[Any, ...] | None = None
    while in_city or in_province:
        rows = await _queued_page(conn, provinces, in_city, in_province, after)
        queued = [DispatchRequest(r["dispatch_id"], r["skill"], r["province"], r["city"],
                                  r["urgency"], r["requested_at"], r["preferred_adjuster_id"])
                  for r in rows]
        info.update((r["dispatch_id"], (r["case_id"], r["survey_due_by"], r["reassigned"]))
                    for r in rows)
        for dispatch_id, decision in drain_assignable(queued, roster, at):
            take(roster, decision, at)
            assigned.append((dispatch_id, decision))
        if len(rows) < DRAIN_PAGE:
            break
        last = rows[-1]
        after = (last["urgency"] != "urgent", last["requested_at"], last["dispatch_id"])
        in_city, in_province = _covers(roster.values())
    for dispatch_id, decision in assigned:
        case_id, due, reassigned = info[dispatch_id]
        announce(fx, Announcement(dispatch_id, case_id, decision, due, reassigned,
                                  dispatch_id in displaced, at=at), ctx)
    if assigned:
        await _write_assigned(conn, assigned, ctx.clock())
        await save_last_assigned(conn, roster, before)
    if assigned_ids is not None:
        assigned_ids.update(i for i, _ in assigned)
    return len(assigned)


async def _write_assigned(conn: AsyncConnection[Any], assigned: list[tuple[str, RouteDecision]],
                          decided_at: datetime) -> None:
    """The drained requests become ``assigned`` (one statement; only if still queued)."""
    await conn.execute(
        "UPDATE dispatches d SET status = 'assigned', adjuster_id = u.adjuster_id,"
        " route_reason = u.reason, decided_at = %s"
        " FROM unnest(%b::text[], %b::text[], %b::text[]) AS u(dispatch_id, adjuster_id,"
        " reason) WHERE d.dispatch_id = u.dispatch_id AND d.status = 'queued'",
        (decided_at, [i for i, _ in assigned], [d.adjuster_id for _, d in assigned],
         [d.reason for _, d in assigned]))


async def _queued_page(conn: AsyncConnection[Any], provinces: set[str], in_city: set[tuple[str, str]],
                       in_province: set[tuple[str, str]],
                       after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """The next ``DRAIN_PAGE`` queued requests after queue key ``after``, in queue order."""
    keyset = f" AND ({_QUEUE_KEY}) > (%s, %s, %s COLLATE \"C\")" if after else ""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT dispatch_id, case_id, skill, province, city, urgency, requested_at,"
        " preferred_adjuster_id, survey_due_by, reassigned FROM dispatches"
        " WHERE status = 'queued' AND province = ANY(%b)"
        " AND ((skill, city) IN (SELECT * FROM unnest(%b::text[], %b::text[]))"
        "  OR (skill, province) IN (SELECT * FROM unnest(%b::text[], %b::text[])))"
        f"{keyset} ORDER BY {_QUEUE_KEY} LIMIT {DRAIN_PAGE}",
        (list(provinces), [k for k, _ in in_city], [c for _, c in in_city],
         [k for k, _ in in_province], [p for _, p in in_province], *(after or ())))
    return list(await cur.fetchall())


def drain_assignable(queued: Sequence[DispatchRequest], roster: dict[str, Adjuster],
                     at: datetime) -> list[tuple[str, RouteDecision]]:
    """``drain_queue(queued, roster, at)``, without ranking the roster for every request.

    ``drain_queue`` visits the queue once, in queue order, and routes each request against
    the loads so far; a request nobody is eligible for is skipped and changes nothing. Loads
    only grow, so a request that is unassignable now stays so until the drain ends. Hence:
    find the first request someone could take now (a set lookup per request), route it
    with ``drain_queue`` itself, count the assignment, continue after it. Same decisions,
    same order; a long queue with a few freed slots costs a few passes of set lookups
    instead of one roster scan per queued request.
    """
    working = dict(roster)
    order = sorted(queued, key=lambda r: queue_order_key(r.urgency, r.requested_at,
                                                         r.dispatch_id))
    assigned: list[tuple[str, RouteDecision]] = []
    cover = _Cover(working.values())
    start = 0
    while True:
        first = cover.first_assignable(order, start)
        if first is None:
            return assigned
        step = drain_queue([order[first]], working.values(), at)
        for _, decision in step:
            if decision.adjuster_id is not None:
                was = working[decision.adjuster_id]
                take(working, decision, at)
                cover.update(was, working[decision.adjuster_id])
        assigned += step
        start = first + 1


class _Cover:
    """:func:`_covers` kept up to date across a drain instead of recomputed per step.

    Counts, per (skill, city) and (skill, province), the adjusters available for it; an
    assignment changes one adjuster, so only its pairs are recounted (recomputing the sets
    over the whole roster after every assignment was ~3 % of a worker's CPU). A pair is
    covered while its count is positive: the same sets as :func:`_covers` at every step.
    """

    def __init__(self, roster: Iterable[Adjuster]) -> None:
        self.in_city: dict[tuple[str, str], int] = {}
        self.in_province: dict[tuple[str, str], int] = {}
        for a in roster:
            self._count(a, 1)

    def _count(self, a: Adjuster, delta: int) -> None:
        for skill in a.skills:
            if is_available(a, skill):
                for city in a.cities:
                    _bump(self.in_city, (skill, city), delta)
                _bump(self.in_province, (skill, a.province), delta)

    def update(self, was: Adjuster, now: Adjuster) -> None:
        """One adjuster changed (its load grew)."""
        self._count(was, -1)
        self._count(now, 1)

    def first_assignable(self, order: Sequence[DispatchRequest], start: int) -> int | None:
        """Index of the first request from ``start`` that some adjuster could take now."""
        in_city, in_province = self.in_city, self.in_province
        for i in range(start, len(order)):
            r = order[i]
            if (r.skill, r.city) in in_city or (r.skill, r.province) in in_province:
                return i
        return None


def _bump(counts: dict[tuple[str, str], int], key: tuple[str, str], delta: int) -> None:
    n = counts.get(key, 0) + delta
    if n:
        counts[key] = n
    else:
        del counts[key]


def _covers(roster: Iterable[Adjuster]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(skill, city) and (skill, province) pairs some adjuster is available for now."""
    in_city: set[tuple[str, str]] = set()
    in_province: set[tuple[str, str]] = set()
    for a in roster:
        for skill in a.skills:
            if is_available(a, skill):
                in_city.update((skill, city) for city in a.cities)
                in_province.add((skill, a.province))
    return in_city, in_province
