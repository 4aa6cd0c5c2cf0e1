"""``dispatch-requested``: route at once (own location and skill), whether or not the case
is known; a dispatch whose survey came first is recorded as surveyed, never assigned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from psycopg import AsyncConnection

from schemas import DispatchRequested
from workers.context import HandlerContext
from workers.handlers.common import (
    ROUTING_LOCK,
    claim_batch,
    lock_routing,
    lock_subjects,
    timeline_row,
)
from workers.handlers.review_apply import add_clock_ops
from workers.handlers.routing import (
    Announcement,
    announce,
    load_roster,
    save_last_assigned,
    take,
)
from workers.handlers.withdrawals import announce_cancelled
from workers.records import Incoming
from workers.rules.case_lifecycle import CaseStatus, on_dispatch_requested
from workers.rules.routing import Adjuster, DispatchRequest, route_dispatch
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset, window_for
from workers.rules.withdrawal import dispatch_after_withdrawal
from workers.store.effects import CaseRow, Effects, data_hash, flush, load_cases, same_data
from workers.store.rows import Row, insert_rows, update_rows


@dataclass(frozen=True)
class DispatchRequestColumns(Row):
    """The columns a ``dispatch.requested`` gives its ``dispatches`` row."""

    __table__: ClassVar[str] = "dispatches"
    dispatch_id: str
    case_id: str
    task: str
    skill: str
    province: str
    city: str
    district: str | None
    urgency: str
    preferred_adjuster_id: str | None
    requested_at: datetime
    survey_due_by: datetime
    source: str
    event_id: str
    data_hash: str


@dataclass(frozen=True)
class DispatchInsert(DispatchRequestColumns):
    """A new ``dispatches`` row (routed, queued, or born cancelled)."""

    __conflict__: ClassVar[str] = ""
    __copy__: ClassVar[bool] = True
    status: str
    adjuster_id: str | None
    decided_at: datetime
    route_reason: str


@dataclass(frozen=True)
class DispatchFill(DispatchRequestColumns):
    """The request's columns for the placeholder a survey left (updated by dispatch_id)."""

    route_reason: str = "surveyed before the request arrived"


@dataclass
class _Batch:
    """What a batch loaded (under the routing and case locks) and what it decided."""

    existing: dict[str, tuple[str | None, datetime | None]]
    cases: dict[str, CaseRow]
    roster: dict[str, Adjuster]
    before: dict[str, Adjuster]
    fx: Effects = field(default_factory=Effects)
    inserts: list[DispatchInsert] = field(default_factory=list)
    fills: list[DispatchFill] = field(default_factory=list)


async def apply_dispatch_requested_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of dispatch.requested events (load → decide → write once)."""
    outcomes, todo = await claim_batch(conn, "dispatch-requested", items)
    if not todo:
        return outcomes
    # A batch mixes partitions in arrival order; route in data-time order instead so
    # capacity goes to the earliest request whatever the consumer interleaving was.
    todo.sort(key=lambda t: _request_order(t[1].data(DispatchRequested)))
    b = await _load(conn, [i for _, i in todo])
    for n, item in todo:
        outcomes[n] = _decide(item, b, ctx)
    _stop_dispatch_clocks_at_first_request(b.fx, todo, b.cases)
    await insert_rows(conn, b.inserts)
    await update_rows(conn, b.fills, ["dispatch_id"])
    await save_last_assigned(conn, b.roster, b.before)
    await flush(conn, b.fx)
    return outcomes


def _request_order(d: DispatchRequested) -> tuple[datetime, str]:
    return d.requested_at, d.dispatch_id


async def _load(conn: AsyncConnection[Any], items: list[Incoming]) -> _Batch:
    case_ids = {i.data(DispatchRequested).case_id for i in items}
    provinces = {i.data(DispatchRequested).location.province for i in items}
    await lock_subjects(conn, [f"case:{c}" for c in case_ids], shared=[ROUTING_LOCK])
    await lock_routing(conn, provinces)  # a request is routed within its province only
    existing = await _existing(conn, {i.data(DispatchRequested).dispatch_id for i in items})
    cases = await load_cases(conn, case_ids)
    roster = await load_roster(conn, provinces)
    return _Batch(existing, cases, roster, dict(roster))


def _decide(item: Incoming, b: _Batch, ctx: HandlerContext) -> str:
    """The outcome of one request; its effects go to ``b`` (no I/O)."""
    d: DispatchRequested = item.data(DispatchRequested)
    digest = data_hash(d)
    known = b.existing.get(d.dispatch_id)
    if known is not None and known[0] is not None:
        return _duplicate(item, d, not same_data(known[0], digest, d), b.fx)
    withdrawn = _withdrawn_at(b.cases.get(d.case_id))
    if withdrawn is not None and known is None and dispatch_after_withdrawal(
            d.requested_at, withdrawn) == "refused":
        b.fx.timeline.append(timeline_row(item, "refused", "dispatch after the withdrawal"))
        b.fx.dq("case_withdrawn", "case", d.case_id, "dispatch requested after the case's"
                " withdrawal", item.event.type, item.source, item.event_id, d.requested_at)
        return "refused"  # SPEC §4.9: timeline and data quality only
    b.existing[d.dispatch_id] = (digest, known[1] if known else None)
    policy = _policy(ctx, b.cases.get(d.case_id))
    window = window_for(Clock.SURVEY, policy, d.urgency.value)
    detail, surveyed_at = _place(item, d, b, d.requested_at + window, digest,
                                 known[1] if known else None, withdrawn, ctx)
    b.fx.clock_ops.append(ClockOp(ClockOpKind.START, "dispatch", d.dispatch_id,
                                  Clock.SURVEY.value, d.requested_at, window,
                                  warn_offset(window, policy.sla.warn_fraction),
                                  province=d.location.province))
    if surveyed_at is not None:
        b.fx.clock_ops.append(ClockOp(ClockOpKind.STOP, "dispatch", d.dispatch_id,
                                      Clock.SURVEY.value, max(surveyed_at, d.requested_at)))
    _case_effect(b.fx, b.cases, d, ctx)
    b.fx.vault("dispatch", d.dispatch_id, item.source, item.event_id,
               {"location_address": d.location.address})
    b.fx.timeline.append(timeline_row(item, "applied", detail))
    return "applied"


def _duplicate(item: Incoming, d: DispatchRequested, conflicting: bool, fx: Effects) -> str:
    fx.timeline.append(timeline_row(item, "duplicate", "dispatch_id already requested"))
    if conflicting:
        fx.dq("conflicting_duplicate", "dispatch", d.dispatch_id,
              "dispatch.requested for a known dispatch_id with different data",
              item.event.type, item.source, item.event_id, d.requested_at)
    return "duplicate"


def _place(item: Incoming, d: DispatchRequested, b: _Batch, due: datetime, digest: str,
           surveyed_at: datetime | None, withdrawn: datetime | None,
           ctx: HandlerContext) -> tuple[str, datetime | None]:
    """Fill a survey's placeholder, or route (then cancel, for a withdrawn case): (detail,
    survey clock stop)."""
    if surveyed_at is not None:
        b.fills.append(DispatchFill(**_columns(item), survey_due_by=due, data_hash=digest))
        return "survey already completed: recorded as surveyed, not assigned", surveyed_at
    req = DispatchRequest(d.dispatch_id, d.skill.value, d.location.province, d.location.city,
                          d.urgency.value, d.requested_at, d.preferred_adjuster_id)
    decision = route_dispatch(req, b.roster.values())
    take(b.roster, decision, d.requested_at)
    announce(b.fx, Announcement(d.dispatch_id, d.case_id, decision, due, at=d.requested_at),
             ctx)
    row = _insert(item, decision.adjuster_id, decision.reason, due, digest, ctx)
    if withdrawn is not None:
        # requested before its case's withdrawal but applied after it: routed as if it had
        # come first, then cancelled at once (load given back), as the other order does
        if decision.adjuster_id is not None:
            a = b.roster[decision.adjuster_id]
            b.roster[a.adjuster_id] = replace(a, load=a.load - 1)
        b.inserts.append(replace(row, status="cancelled"))
        announce_cancelled(b.fx, d.dispatch_id, d.case_id, decision.adjuster_id, due, 0, ctx)
        return "case withdrawn: routed, then cancelled", max(withdrawn, d.requested_at)
    b.inserts.append(row)
    return (f"assigned to {decision.adjuster_id}" if decision.adjuster_id else "queued"), None


def _stop_dispatch_clocks_at_first_request(
    fx: Effects, todo: Sequence[tuple[int, Incoming]], cases: dict[str, Any]
) -> None:
    """The case's dispatch clock stops at its first dispatch request (SPEC §4.4).

    A survey processed before its dispatch request stops the clock at the survey's time
    (it proves a dispatch was requested, but not when); when the request arrives, its
    earlier ``requested_at`` becomes the stop and the marks are settled again
    (``stop_earliest``), so the result does not depend on which topic was consumed first.
    """
    first: dict[str, datetime] = {}
    for _, item in todo:
        d: DispatchRequested = item.data(DispatchRequested)
        if d.case_id in cases:
            first[d.case_id] = min(first.get(d.case_id, d.requested_at), d.requested_at)
    for case_id, at in first.items():
        fx.clock_ops.append(ClockOp(ClockOpKind.STOP_EARLIEST, "case", case_id,
                                    Clock.DISPATCH.value, at))


def _withdrawn_at(case: CaseRow | None) -> datetime | None:
    """The case's withdrawal time, if the case is withdrawn."""
    if case is None or case.state.status is not CaseStatus.WITHDRAWN:
        return None
    return case.withdrawn_at


def _policy(ctx: HandlerContext, case: Any) -> Any:
    if case is None:
        return ctx.policy.default
    return ctx.policy.for_case(case.insurer, case.line)


def _case_effect(fx: Effects, cases: dict[str, Any], d: DispatchRequested,
                 ctx: HandlerContext) -> None:
    """reported → dispatched and the dispatch clock stops (only for a known case)."""
    case = cases.get(d.case_id)
    if case is None:
        return
    fx.cases[case.case_id] = case
    t = on_dispatch_requested(case.state)
    if t.state != case.state:
        case.state = t.state
        case.updated_at = max(d.requested_at, case.updated_at or d.requested_at)
        case.dirty = True
    add_clock_ops(fx, case, t.clocks, d.requested_at, _policy(ctx, case))


async def _existing(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, tuple[str | None, Any]]:
    """dispatch_id → (data_hash or None for a survey-first placeholder, closed_at)."""
    cur = await conn.execute(
        "SELECT dispatch_id, data_hash, closed_at FROM dispatches WHERE dispatch_id = ANY(%b)",
        (list(ids),))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


def _columns(item: Incoming) -> dict[str, Any]:
    """The request's own columns (shared by inserts and placeholder fills)."""
    d: DispatchRequested = item.data(DispatchRequested)
    loc = d.location
    return {"dispatch_id": d.dispatch_id, "case_id": d.case_id, "task": d.task.value,
            "skill": d.skill.value, "province": loc.province, "city": loc.city,
            "district": loc.district, "urgency": d.urgency.value,
            "preferred_adjuster_id": d.preferred_adjuster_id, "requested_at": d.requested_at,
            "source": item.source, "event_id": item.event_id}


def _insert(item: Incoming, adjuster_id: str | None, reason: str, due: datetime, digest: str,
            ctx: HandlerContext) -> DispatchInsert:
    """The ``dispatches`` row of a routed request."""
    return DispatchInsert(**_columns(item), status="assigned" if adjuster_id else "queued",
                          adjuster_id=adjuster_id, decided_at=ctx.clock(), survey_due_by=due,
                          route_reason=reason, data_hash=digest)
