"""``dispatch-requested``: route at once (own location and skill), whether or not the case
is known; a dispatch whose survey came first is recorded as surveyed, never assigned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from workers.records import Incoming
from workers.rules.case_lifecycle import CaseStatus, on_dispatch_requested
from workers.rules.routing import DispatchRequest, route_dispatch
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset, window_for
from workers.rules.withdrawal import dispatch_after_withdrawal
from workers.store.effects import CaseRow, Effects, data_hash, flush, load_cases


async def apply_dispatch_requested_batch(
    conn: Any, items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of dispatch.requested events; one outcome per event."""
    outcomes, todo = await claim_batch(conn, "dispatch-requested", items)
    if not todo:
        return outcomes
    # A batch mixes partitions in arrival order; route in data-time order instead so
    # capacity goes to the earliest request whatever the consumer interleaving was.
    todo.sort(key=lambda t: (t[1].event.data.requested_at, t[1].event.data.dispatch_id))
    case_ids = {i.event.data.case_id for _, i in todo}
    provinces = {i.event.data.location.province for _, i in todo}
    await lock_subjects(conn, [f"case:{c}" for c in case_ids], shared=[ROUTING_LOCK])
    await lock_routing(conn, provinces)  # a request is routed within its province only
    existing = await _existing(conn, {i.event.data.dispatch_id for _, i in todo})
    cases = await load_cases(conn, case_ids)
    roster = await load_roster(conn, provinces)
    before = dict(roster)
    fx = Effects()
    inserts: list[tuple[Any, ...]] = []
    fills: list[tuple[Any, ...]] = []
    for n, item in todo:
        d: DispatchRequested = item.event.data
        digest = data_hash(d)
        known = existing.get(d.dispatch_id)
        if known is not None and known[0] is not None:
            outcomes[n] = "duplicate"
            fx.timeline.append(timeline_row(item, "duplicate", "dispatch_id already requested"))
            if known[0] != digest:
                fx.dq("conflicting_duplicate", "dispatch", d.dispatch_id,
                      "dispatch.requested for a known dispatch_id with different data",
                      item.event.type, item.source, item.event_id, d.requested_at)
            continue
        withdrawn = _withdrawn_at(cases.get(d.case_id))
        if withdrawn is not None and known is None and dispatch_after_withdrawal(
                d.requested_at, withdrawn) == "refused":
            outcomes[n] = "refused"  # SPEC §4.9: timeline and data quality only
            fx.timeline.append(timeline_row(item, "refused", "dispatch after the withdrawal"))
            fx.dq("case_withdrawn", "case", d.case_id, "dispatch requested after the case's"
                  " withdrawal", item.event.type, item.source, item.event_id, d.requested_at)
            continue
        existing[d.dispatch_id] = (digest, known[1] if known else None)
        policy = _policy(ctx, cases.get(d.case_id))
        window = window_for(Clock.SURVEY, policy, d.urgency.value)
        due = d.requested_at + window
        surveyed_at = known[1] if known else None
        if surveyed_at is not None:
            fills.append(_fill_surveyed(item, due, digest))
            detail = "survey already completed: recorded as surveyed, not assigned"
        elif withdrawn is not None:  # requested before the withdrawal: born cancelled
            row = _insert(item, None, "case withdrawn", due, digest, ctx)
            inserts.append((*row[:10], "cancelled", *row[11:]))
            surveyed_at = max(withdrawn, d.requested_at)  # its survey clock stops there
            detail = "case withdrawn: recorded as cancelled, not assigned"
        else:
            req = DispatchRequest(d.dispatch_id, d.skill.value, d.location.province,
                                  d.location.city, d.urgency.value, d.requested_at,
                                  d.preferred_adjuster_id)
            decision = route_dispatch(req, roster.values())
            take(roster, decision, d.requested_at)
            inserts.append(_insert(item, decision.adjuster_id, decision.reason, due, digest,
                                   ctx))
            announce(fx, Announcement(d.dispatch_id, d.case_id, decision, due,
                                      at=d.requested_at), ctx)
            detail = f"assigned to {decision.adjuster_id}" if decision.adjuster_id else "queued"
        fx.clock_ops.append(ClockOp(ClockOpKind.START, "dispatch", d.dispatch_id, Clock.SURVEY.value,
                                    d.requested_at, window,
                                    warn_offset(window, policy.sla.warn_fraction),
                                    province=d.location.province))
        if surveyed_at is not None:
            fx.clock_ops.append(ClockOp(ClockOpKind.STOP, "dispatch", d.dispatch_id, Clock.SURVEY.value,
                                        max(surveyed_at, d.requested_at)))
        _case_effect(fx, cases, d, ctx)
        fx.vault("dispatch", d.dispatch_id, item.source, item.event_id,
                 {"location_address": d.location.address})
        fx.timeline.append(timeline_row(item, "applied", detail))
    await _write(conn, inserts, fills)
    await save_last_assigned(conn, roster, before)
    _stop_dispatch_clocks_at_first_request(fx, todo, cases)
    await flush(conn, fx)
    return outcomes


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
        d: DispatchRequested = item.event.data
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


async def _existing(conn: Any, ids: set[str]) -> dict[str, tuple[str | None, Any]]:
    """dispatch_id → (data_hash or None for a survey-first placeholder, closed_at)."""
    cur = await conn.execute(
        "SELECT dispatch_id, data_hash, closed_at FROM dispatches WHERE dispatch_id = ANY(%b)",
        (list(ids),))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


def _columns(item: Incoming) -> tuple[Any, ...]:
    d: DispatchRequested = item.event.data
    loc = d.location
    return (d.case_id, d.task.value, d.skill.value, loc.province, loc.city, loc.district,
            d.urgency.value, d.preferred_adjuster_id, d.requested_at)


def _insert(item: Incoming, adjuster_id: str | None, reason: str, due: Any, digest: str,
            ctx: HandlerContext) -> tuple[Any, ...]:
    """The ``dispatches`` row of a routed request (written by :func:`_write`)."""
    d: DispatchRequested = item.event.data
    return (d.dispatch_id, *_columns(item), "assigned" if adjuster_id else "queued",
            adjuster_id, ctx.clock(), due, reason, item.source, item.event_id, digest)


def _fill_surveyed(item: Incoming, due: Any, digest: str) -> tuple[Any, ...]:
    """The request's columns for the placeholder a survey left (written by :func:`_write`)."""
    d: DispatchRequested = item.event.data
    return (*_columns(item), due, item.source, item.event_id, digest, d.dispatch_id)


async def _write(conn: Any, inserts: list[tuple[Any, ...]],
                 fills: list[tuple[Any, ...]]) -> None:
    """One statement each for the batch's new dispatches and filled placeholders (nothing
    in the batch reads ``dispatches`` between routing and here; the routing lock is held)."""
    if inserts:
        await conn.execute(
            "INSERT INTO dispatches (dispatch_id, case_id, task, skill, province, city,"
            " district, urgency, preferred_adjuster_id, requested_at, status, adjuster_id,"
            " decided_at, survey_due_by, route_reason, source, event_id, data_hash)"
            " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
            " %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::text[],"
            " %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[],"
            " %b::text[], %b::text[])",
            [list(c) for c in zip(*inserts, strict=True)])
    if fills:
        await conn.execute(
            "UPDATE dispatches p SET case_id = u.case_id, task = u.task, skill = u.skill,"
            " province = u.province, city = u.city, district = u.district, urgency = u.urgency,"
            " preferred_adjuster_id = u.pref, requested_at = u.requested_at,"
            " survey_due_by = u.due, source = u.source, event_id = u.event_id,"
            " data_hash = u.data_hash, route_reason = 'surveyed before the request arrived'"
            " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
            " %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],"
            " %b::text[], %b::text[], %b::text[], %b::text[]) AS u(case_id, task, skill,"
            " province, city, district, urgency, pref, requested_at, due, source, event_id,"
            " data_hash, dispatch_id) WHERE p.dispatch_id = u.dispatch_id",
            [list(c) for c in zip(*fills, strict=True)])
