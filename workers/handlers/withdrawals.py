"""``case-withdrawn`` (SPEC §4.9, 撤案): load → decide (``rules.withdrawal``) → write.

A withdrawal of an unknown case is parked (subject ``withdrawal``) and applied when the
case arrives, in data-time order with its parked reviews (:func:`apply_withdrawal`). An
accepted withdrawal stops every open clock of the case, cancels its open dispatches
(``dispatch.assigned`` status ``cancelled``; load freed, queue drained) and its open case
callbacks; one after the decision is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from schemas import CaseWithdrawn, DispatchAssigned, dispatch_assigned_event_id
from topics import CASE_WITHDRAWN, DISPATCH_ASSIGNED
from workers.context import HandlerContext
from workers.handlers.callbacks import cancel_case_callbacks
from workers.handlers.common import ROUTING_LOCK, claim_batch, lock_routing, lock_subjects
from workers.handlers.routing import drain
from workers.records import Incoming
from workers.rules.sla import Clock, ClockOp, ClockOpKind
from workers.rules.withdrawal import decide_withdrawal
from workers.store.effects import (
    CaseRow,
    Effects,
    TimelineRow,
    data_hash,
    flush,
    load_cases,
    same_data,
)
from workers.store.tables import ParkedRow

PARK_SUBJECT = "withdrawal"


@dataclass(frozen=True)
class WithdrawalFacts:
    """The facts of a case.withdrawn event (no PII)."""

    case_id: str
    reason_code: str
    requested_by: str | None
    withdrawn_at: datetime
    source: str
    event_id: str
    data_hash: str

    @classmethod
    def of(cls, item: Incoming) -> WithdrawalFacts:
        """From a validated event."""
        d: CaseWithdrawn = item.data(CaseWithdrawn)
        return cls(d.case_id, d.reason_code.value, d.requested_by, d.withdrawn_at,
                   item.source, item.event_id, data_hash(d))

    def payload(self) -> str:
        """``parked_events.payload``."""
        return json.dumps({**self.__dict__, "withdrawn_at": self.withdrawn_at.isoformat()})

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> WithdrawalFacts:
        """Inverse of :meth:`payload`."""
        return cls(**{**raw, "withdrawn_at": datetime.fromisoformat(raw["withdrawn_at"])})

    def row(self, outcome: str) -> tuple[Any, ...]:
        """The ``withdrawals`` row."""
        return (self.case_id, self.reason_code, self.requested_by, self.withdrawn_at, outcome,
                self.source, self.event_id, self.data_hash)

    def timeline(self, outcome: str, detail: str) -> TimelineRow:
        """Its ``rm_case_timeline`` row."""
        return TimelineRow(self.case_id, None, "case.withdrawn", self.withdrawn_at, self.source,
                           self.event_id, outcome, detail)


async def apply_case_withdrawn_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of case.withdrawn events; one outcome per event."""
    outcomes, claimed = await claim_batch(conn, CASE_WITHDRAWN, items)
    todo = [(n, WithdrawalFacts.of(i)) for n, i in claimed]
    data = {n: i.data(CaseWithdrawn) for n, i in claimed}
    if not todo:
        return outcomes
    await lock_subjects(conn, [f"case:{f.case_id}" for _, f in todo], shared=[ROUTING_LOCK])
    await lock_routing(conn, await open_dispatch_provinces(conn, {f.case_id for _, f in todo}))
    cur = await conn.execute("SELECT case_id, data_hash FROM withdrawals WHERE case_id = ANY(%b)",
                             (list({f.case_id for _, f in todo}),))
    known: dict[str, str] = {r[0]: r[1] for r in await cur.fetchall()}
    cases = await load_cases(conn, {f.case_id for _, f in todo})
    fx = Effects()
    rows: list[tuple[Any, ...]] = []
    for n, f in todo:
        if f.case_id in known:
            outcomes[n] = "duplicate"
            fx.timeline.append(f.timeline("duplicate", "case already withdrawn"))
            if not same_data(known[f.case_id], f.data_hash, data[n]):
                fx.dq("conflicting_duplicate", "case", f.case_id,
                      "case.withdrawn for a case with a withdrawal with different data",
                      "case.withdrawn", f.source, f.event_id, f.withdrawn_at)
            continue
        known[f.case_id] = f.data_hash
        case = cases.get(f.case_id)
        if case is None:
            fx.parked.append(ParkedRow(f.source, f.event_id, PARK_SUBJECT, f.case_id, f.withdrawn_at,
                              f.payload()))
            fx.timeline.append(f.timeline("parked", f"waiting for case {f.case_id}"))
            rows.append(f.row("parked"))
            outcomes[n] = "parked"
            continue
        outcomes[n] = await apply_withdrawal(conn, f, case, ctx, fx)
        rows.append(f.row(outcomes[n]))
    await save_withdrawals(conn, rows)
    await flush(conn, fx)
    return outcomes


async def apply_withdrawal(conn: AsyncConnection[Any], f: WithdrawalFacts, case: CaseRow, ctx: HandlerContext,
                           fx: Effects) -> str:
    """Apply a withdrawal to a known case (caller holds its lock and the routing locks of
    its open dispatches' provinces, or ``routing`` exclusively)."""
    has_payout = await _has_payout(conn, case.case_id)
    d = decide_withdrawal(case.state, has_payout, f.withdrawn_at, case.decided_at)
    if not d.accepted:
        for code in d.refusals:
            fx.dq(code, "case", case.case_id, d.detail, "case.withdrawn", f.source, f.event_id,
                  f.withdrawn_at)
        fx.timeline.append(f.timeline("refused", d.detail))
        return "refused"
    fx.cases[case.case_id] = case
    case.state = d.state
    case.closed_at = case.withdrawn_at = f.withdrawn_at
    case.updated_at = max(case.updated_at or f.withdrawn_at, f.withdrawn_at)
    case.dirty = True
    for clock in d.stop:
        fx.clock_ops.append(ClockOp(ClockOpKind.STOP, "case", case.case_id, clock.value, f.withdrawn_at))
    freed = await _cancel_dispatches(conn, case, f.withdrawn_at, ctx, fx)
    await cancel_case_callbacks(conn, [case.case_id], f.withdrawn_at, fx, ctx)
    if freed:
        await drain(conn, freed, f.withdrawn_at, ctx, fx)
    fx.timeline.append(f.timeline("applied", d.detail))
    return "applied"


async def open_dispatch_provinces(conn: AsyncConnection[Any], case_ids: set[str]) -> set[str]:
    """Provinces of the cases' open dispatches: the only ones a withdrawal routes in (it
    cancels them and drains those queues; routing never crosses a province, SPEC §4.2).

    Stable under the case locks the caller holds: a dispatch is requested (its province
    set) and closed under its case lock, and routing only moves it within its province.
    The global ``routing`` lock serialised every withdrawal with all routing of every
    worker: 2.2 of the 2.8 s of lock waits of a 2-worker drain (docs/performance.md).
    """
    cur = await conn.execute(
        "SELECT DISTINCT province FROM dispatches WHERE case_id = ANY(%b)"
        " AND status IN ('queued', 'assigned')", (list(case_ids),))
    return {r[0] for r in await cur.fetchall() if r[0] is not None}


async def _cancel_dispatches(conn: AsyncConnection[Any], case: CaseRow, at: datetime, ctx: HandlerContext,
                             fx: Effects) -> set[str]:
    """Cancel the case's queued/assigned dispatches; the provinces whose load was freed."""
    cur = await conn.execute(
        "UPDATE dispatches d SET status = 'cancelled', closed_at = %s FROM (SELECT dispatch_id,"
        " status AS was FROM dispatches WHERE case_id = %s AND status IN ('queued', 'assigned')"
        " ORDER BY dispatch_id FOR UPDATE) o WHERE d.dispatch_id = o.dispatch_id"
        " RETURNING d.dispatch_id, o.was, d.province, d.adjuster_id, d.survey_due_by,"
        " d.reassigned",
        (at, case.case_id))
    freed: set[str] = set()
    for dispatch_id, was, province, adjuster_id, due, reassigned in sorted(
            await cur.fetchall()):
        if was == "assigned":
            freed.add(province)
        fx.clock_ops.append(ClockOp(ClockOpKind.STOP, "dispatch", dispatch_id, Clock.SURVEY.value, at))
        announce_cancelled(fx, dispatch_id, case.case_id, adjuster_id, due, reassigned, ctx)
    return freed


def announce_cancelled(fx: Effects, dispatch_id: str, case_id: str, adjuster_id: str | None,
                       survey_due_by: datetime, reassigned: int, ctx: HandlerContext) -> None:
    """``dispatch.assigned`` with status ``cancelled`` (its case was withdrawn)."""
    data = DispatchAssigned(
        dispatch_id=dispatch_id, case_id=case_id, status="cancelled", adjuster_id=adjuster_id,
        decided_at=ctx.clock(), survey_due_by=survey_due_by, route_reason="case withdrawn")
    event_id = dispatch_assigned_event_id(dispatch_id, "cancelled", adjuster_id, reassigned)
    fx.output("dispatch.assigned", DISPATCH_ASSIGNED, case_id, data, event_id, ctx.clock())


async def _has_payout(conn: AsyncConnection[Any], case_id: str) -> bool:
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM payouts WHERE case_id = %s)",
                             (case_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def save_withdrawals(conn: AsyncConnection[Any], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert (or, for an unparked one, update) ``withdrawals`` rows."""
    if rows:
        await conn.execute(
            "INSERT INTO withdrawals (case_id, reason_code, requested_by, withdrawn_at, outcome,"
            " source, event_id, data_hash) SELECT * FROM unnest(%b::text[], %b::text[],"
            " %b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[])"
            " ON CONFLICT (case_id) DO UPDATE SET outcome = EXCLUDED.outcome",
            [list(c) for c in zip(*rows, strict=True)])


async def take_parked_withdrawals(conn: AsyncConnection[Any], case_ids: set[str]) -> list[WithdrawalFacts]:
    """Withdrawals parked for the given cases (caller deletes them via ``fx.unparked``)."""
    if not case_ids:
        return []
    cur = await conn.execute(
        "SELECT payload FROM parked_events WHERE subject_type = %s AND subject_id = ANY(%b)"
        " ORDER BY data_time, event_id", (PARK_SUBJECT, list(case_ids)))
    return [WithdrawalFacts.from_payload(r[0]) for r in await cur.fetchall()]
