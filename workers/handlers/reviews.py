"""``review-completed``: surveys close their dispatch at once; case effects wait (parked)
for an unknown case; complaint-stage reviews close complaints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from schemas import ReviewCompleted
from workers.context import HandlerContext
from workers.handlers.callback_requests import send_callbacks
from workers.handlers.callback_triggers import (
    became_terminal,
    closing_requests,
    complaint_requests,
    dispatch_requests,
)
from workers.handlers.catastrophes import CATASTROPHE_LOCK
from workers.handlers.common import ROUTING_LOCK, claim_batch, lock_routing, lock_subjects
from workers.handlers.complaints import (
    apply_complaint_review,
    closed_now,
    complaint_case_locks,
    load_complaints,
    save_complaints,
)
from workers.handlers.parking import park
from workers.handlers.review_apply import ReviewFacts, apply_case_review
from workers.handlers.routing import drain
from workers.handlers.settlements import settle_parked
from workers.records import Incoming
from workers.rules.sla import Clock, ClockOp, ClockOpKind
from workers.store.effects import Effects, data_hash, flush, load_cases, same_data


def review_facts(item: Incoming) -> ReviewFacts:
    """The non-personal facts of a review event."""
    d: ReviewCompleted = item.data(ReviewCompleted)
    return ReviewFacts(
        review_id=d.review_id, stage=d.stage.value, decision=d.decision.value,
        case_id=d.case_id, complaint_id=d.complaint_id, dispatch_id=d.dispatch_id,
        reviewer_id=d.reviewer_id, amount=d.amount, disputed=d.disputed,
        missing_documents=len(d.missing_documents or ()), completed_at=d.completed_at,
        source=item.source, event_id=item.event_id, data_hash=data_hash(d),
        missing_documents_list=tuple(d.missing_documents or ()),
    )


def _locks(facts: list[ReviewFacts]) -> list[str]:
    return [f"complaint:{f.complaint_id}" if f.stage == "complaint" else f"case:{f.case_id}"
            for f in facts]


async def apply_review_completed_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of review.completed events; one outcome per event."""
    outcomes, claimed = await claim_batch(conn, "review-completed", items)
    todo = [(n, i, review_facts(i)) for n, i in claimed]
    if not todo:
        return outcomes
    facts_all = [f for _, _, f in todo]
    complaint_ids = {str(f.complaint_id) for f in facts_all if f.stage == "complaint"}
    surveyed = {f.dispatch_id for f in facts_all if f.stage == "survey" and f.dispatch_id}
    await lock_subjects(conn, _locks(facts_all) + await complaint_case_locks(conn, complaint_ids),
                        shared=[ROUTING_LOCK] if surveyed else [],
                        # then the catastrophe lock, shared: an initial decision and a
                        # declaration: one order (§4.3)
                        then_shared=CATASTROPHE_LOCK)
    states = await _locked_dispatch_states(conn, surveyed)  # province locks: taken last
    known = await _known_reviews(conn, {f.review_id for f in facts_all})
    cases = await load_cases(conn, {f.case_id for f in facts_all
                                    if f.case_id and f.stage != "complaint"})
    complaints = await load_complaints(conn, complaint_ids)
    fx = Effects()
    freed_at: datetime | None = None
    closes = _DispatchCloses(states)
    for n, item, facts in todo:
        if facts.review_id in known:
            outcomes[n] = "duplicate"
            _duplicate(fx, facts, not same_data(known[facts.review_id], facts.data_hash,
                                                item.data(ReviewCompleted)))
            continue
        known[facts.review_id] = facts.data_hash
        fx.vault("review", facts.review_id, facts.source, facts.event_id,
                 {"reason": item.data(ReviewCompleted).reason})
        if facts.stage == "survey" and closes.close(facts, fx):
            freed_at = max(freed_at or facts.completed_at, facts.completed_at)
        outcomes[n] = await _apply_one(conn, facts, cases, complaints, ctx, fx)
        if outcomes[n] != "parked":
            fx.reviews[facts.review_id] = facts.row(outcomes[n])
    await closes.write(conn)
    if freed_at is not None:
        await drain(conn, fx.freed_provinces, freed_at, ctx, fx)
    await save_complaints(conn, complaints)
    await flush(conn, fx)
    requests = await dispatch_requests(conn, [f.review_id for f in facts_all if f.stage ==
                                              "survey" and f.decision == "completed"], ctx)
    requests += await closing_requests(conn, became_terminal(fx), ctx)
    await send_callbacks(conn, ctx, requests + complaint_requests(closed_now(complaints), ctx))
    await settle_parked(conn, {p.payout_id for p in fx.payouts}, ctx)  # SPEC §4.8 parking
    return outcomes


async def _apply_one(conn: AsyncConnection[Any], facts: ReviewFacts, cases: dict[str, Any],
                     complaints: dict[str, Any], ctx: HandlerContext, fx: Effects) -> str:
    if facts.stage == "complaint":
        if facts.complaint_id not in complaints:
            return park(fx, facts, "complaint", str(facts.complaint_id))
        return apply_complaint_review(facts, complaints, fx)
    case = cases.get(str(facts.case_id))
    if case is None:
        return park(fx, facts, "case", str(facts.case_id))
    fx.cases[case.case_id] = case
    return await apply_case_review(conn, facts, case, ctx, fx)


def _duplicate(fx: Effects, facts: ReviewFacts, differs: bool) -> None:
    fx.timeline.append(facts.timeline("duplicate", "review_id already completed"))
    if differs:
        fx.dq("conflicting_duplicate", "review", facts.review_id,
              "review.completed for a known review_id with different data",
              "review.completed", facts.source, facts.event_id, facts.completed_at)


async def _known_reviews(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT review_id, data_hash FROM reviews WHERE review_id = ANY(%b)", (list(ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def _locked_dispatch_states(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, tuple[str, Any]]:
    """:func:`_dispatch_states` under the routing locks of the dispatches' provinces.

    A dispatch's province is set once (by its request, under its case lock, which this
    batch holds when the survey names the same case), so: read, lock those provinces, read
    again; the second read is stable — every status change (routing, drains, closes) holds
    its province's lock. A province seen only on the second read (a survey naming another
    case than its dispatch) is locked in a further round; the rare lock-order inversion
    that allows is a deadlock Postgres detects, retried as transient.
    """
    locked: set[str] = set()
    while True:
        states = await _dispatch_states(conn, ids)
        provinces = {p for _, p in states.values() if p is not None} - locked
        if not provinces:
            return states
        await lock_routing(conn, provinces)
        locked |= provinces


async def _dispatch_states(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, tuple[str, Any]]:
    """dispatch_id → (status, province) of the known dispatches among ``ids``."""
    if not ids:
        return {}
    cur = await conn.execute(
        "SELECT dispatch_id, status, province FROM dispatches WHERE dispatch_id = ANY(%b)",
        (list(ids),))
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


@dataclass
class _DispatchCloses:
    """Survey closes of one batch, decided in memory, written with two statements."""

    states: dict[str, tuple[str, Any]]
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)

    def close(self, facts: ReviewFacts, fx: Effects) -> bool:
        """Close the survey's dispatch whatever its state; True when it freed an adjuster.

        Decided exactly as one SELECT and one INSERT/UPDATE per survey would (the state
        map is updated as the batch goes, so a second survey of a dispatch sees the first).
        """
        row = self.states.get(str(facts.dispatch_id))
        if row is None:
            self.inserts.append((facts.dispatch_id, facts.case_id, facts.completed_at,
                                 facts.review_id))
            self.states[str(facts.dispatch_id)] = ("surveyed", None)
            return False
        status, province = row
        if status == "surveyed":
            return False
        self.updates.append((facts.dispatch_id, facts.completed_at, facts.review_id))
        self.states[str(facts.dispatch_id)] = ("surveyed", province)
        # stop_earliest: a dispatch cancelled by its case's withdrawal before its (earlier)
        # survey was applied had its clock stopped at withdrawn_at; the survey time wins,
        # as if applied in data-time order (SPEC §4.9)
        kind = ClockOpKind.STOP_EARLIEST if status == "cancelled" else ClockOpKind.STOP
        fx.clock_ops.append(ClockOp(kind, "dispatch", str(facts.dispatch_id),
                                    Clock.SURVEY.value, facts.completed_at))
        if status == "assigned":
            fx.freed_provinces.add(province)
            return True
        return False

    async def write(self, conn: AsyncConnection[Any]) -> None:
        """Write the closes (before anything reads dispatches again in this batch)."""
        if self.inserts:
            await conn.execute(
                "INSERT INTO dispatches (dispatch_id, case_id, status, closed_at,"
                " closed_by_review) SELECT d, c, 'surveyed', t, r FROM unnest(%b::text[],"
                " %b::text[], %b::timestamptz[], %b::text[]) AS u(d, c, t, r)",
                [list(col) for col in zip(*self.inserts, strict=True)])
        if self.updates:
            await conn.execute(
                "UPDATE dispatches p SET status = 'surveyed', closed_at = u.t,"
                " closed_by_review = u.r FROM unnest(%b::text[], %b::timestamptz[], %b::text[])"
                " AS u(d, t, r) WHERE p.dispatch_id = u.d",
                [list(col) for col in zip(*self.updates, strict=True)])
