"""Applying a review to a known case or complaint (shared by live and unparked reviews)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from schemas import PayoutApproved, payout_approved_event_id
from topics import PAYOUT_APPROVED
from workers.context import HandlerContext
from workers.handlers.catastrophes import declared_cover_at
from workers.rules import notices
from workers.rules.case_lifecycle import (
    TERMINAL,
    CaseStatus,
    ClockEffects,
    Decision,
    RefusalCode,
    ReviewInput,
    Stage,
    Transition,
    decide_review,
    on_survey_completed,
    on_survey_unable,
    payout_id,
)
from workers.rules.four_eyes import SAME_REVIEWER, PriorDecision, four_eyes_refusal
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset, window_for
from workers.rules.withdrawal import ORDER_CONFLICT, review_order_conflict
from workers.store.effects import CaseRow, Effects, TimelineRow
from workers.store.tables import PayoutRow, ReviewRow

ZERO = timedelta(0)


@dataclass(frozen=True)
class ReviewFacts:
    """The non-personal facts of a review.completed event (``reason`` lives in the vault)."""

    review_id: str
    stage: str
    decision: str
    case_id: str | None
    complaint_id: str | None
    dispatch_id: str | None
    reviewer_id: str
    amount: Decimal | None
    disputed: bool
    missing_documents: int
    completed_at: datetime
    source: str
    event_id: str
    data_hash: str
    #: the full list of a documents_requested review (kept in Postgres, SPEC §4.12)
    missing_documents_list: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        """JSON-able form for ``parked_events.payload``."""
        # a shallow copy (asdict deep-copied every Decimal and datetime: ~0.5 ms a review);
        # the values are immutable and the JSON is the same, key order included
        out = {name: getattr(self, name) for name in _FACT_FIELDS}
        out["amount"] = None if self.amount is None else str(self.amount)
        out["completed_at"] = self.completed_at.isoformat()
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ReviewFacts:
        """Inverse of :meth:`payload`."""
        data = dict(payload)
        data["amount"] = None if data["amount"] is None else Decimal(data["amount"])
        data["completed_at"] = datetime.fromisoformat(data["completed_at"])
        data["missing_documents_list"] = tuple(data.get("missing_documents_list") or ())
        return cls(**data)

    def row(self, outcome: str) -> ReviewRow:
        """The ``reviews`` table row."""
        missing = (json.dumps(list(self.missing_documents_list), ensure_ascii=False)
                   if self.missing_documents_list else None)
        return ReviewRow(self.review_id, self.stage, self.case_id, self.complaint_id,
                         self.dispatch_id, self.reviewer_id, self.decision, self.amount,
                         self.disputed, self.missing_documents, self.completed_at, outcome,
                         self.source, self.event_id, self.data_hash, missing)

    def timeline(self, outcome: str, detail: str | None) -> TimelineRow:
        """The timeline row of this review."""
        return TimelineRow(self.case_id, self.complaint_id, "review.completed",
                           self.completed_at, self.source, self.event_id, outcome, detail)


_FACT_FIELDS = tuple(f.name for f in fields(ReviewFacts))


async def surge_open_at(conn: AsyncConnection[Any], province: str, city: str, at: datetime,
                        fx: Effects | None = None) -> bool:
    """Was a surge alert for the city open at data time ``at``?

    With ``fx``, the surge alerts are read once per batch (``fx.surge_alerts``) instead of
    one query per initial review; the predicate is the same. (Only the case handler opens
    surge alerts, before it unparks reviews, so none appears later in a batch.)
    """
    if fx is None:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE kind = 'surge'"
            " AND scope->>'province' = %s AND scope->>'city' = %s AND opened_at <= %s"
            " AND (resolved_at IS NULL OR resolved_at > %s))",
            (province, city, at, at),
        )
        row = await cur.fetchone()
        return bool(row and row[0])
    if fx.surge_alerts is None:
        cur = await conn.execute(
            "SELECT scope->>'province', scope->>'city', opened_at, resolved_at FROM alerts"
            " WHERE kind = 'surge'")
        fx.surge_alerts = list(await cur.fetchall())
    return any(p == province and c == city and opened <= at
               and (resolved is None or resolved > at)
               for p, c, opened, resolved in fx.surge_alerts)


async def _declared_cover(conn: AsyncConnection[Any], case_id: str, at: datetime, fx: Effects) -> str | None:
    """:func:`declared_cover_at`, without its per-review query while no catastrophe was
    ever declared (the usual case; one EXISTS per batch, kept in ``fx``). Declarations
    take the catastrophe lock exclusively and review batches hold it shared, so the
    answer cannot change within a batch."""
    if fx.any_catastrophe is None:
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM catastrophe_versions)")
        row = await cur.fetchone()
        fx.any_catastrophe = bool(row and row[0])
    return await declared_cover_at(conn, case_id, at) if fx.any_catastrophe else None


async def apply_case_review(
    conn: AsyncConnection[Any], facts: ReviewFacts, case: CaseRow, ctx: HandlerContext, fx: Effects
) -> str:
    """Apply a survey/initial/second/joint review to a known case; returns the outcome."""
    policy = ctx.policy.for_case(case.insurer, case.line)
    stage = Stage(facts.stage)
    if stage is Stage.SURVEY:
        t = (on_survey_completed(case.state, facts.disputed) if facts.decision == "completed"
             else on_survey_unable(case.state))
    else:
        surge = False
        if stage is Stage.INITIAL and case.state.cat_mode is None and not case.state.has_cat_code:
            # catastrophe mode (SPEC §4.3): an open surge for the city, or (v2) a declared
            # catastrophe whose version in force at completed_at covers the case
            surge = (await surge_open_at(conn, case.province, case.city, facts.completed_at, fx)
                     or await _declared_cover(conn, case.case_id, facts.completed_at, fx)
                     is not None)
        review = ReviewInput(facts.review_id, stage, Decision(facts.decision),
                             facts.completed_at, facts.amount, facts.disputed)
        t = decide_review(case.state, review, policy, surge)
        same = four_eyes_refusal(facts.stage, facts.reviewer_id, case.deciders)
        if t.accepted and same is not None:
            return _refuse(case, facts, SAME_REVIEWER, same, fx)
    if not t.accepted:
        detail = t.refusal.detail if t.refusal else "refused"
        code = t.refusal.code.value if t.refusal else "refused"
        if code == RefusalCode.CASE_WITHDRAWN and review_order_conflict(
                facts.completed_at, case.withdrawn_at):  # the §4.9 race, recorded
            fx.dq(ORDER_CONFLICT, "case", case.case_id, "review earlier than the withdrawal"
                  " that was applied first", "review.completed", facts.source, facts.event_id,
                  facts.completed_at)
        return _refuse(case, facts, code, detail, fx)
    _apply_transition(case, t, facts, policy, fx, ctx)
    fx.timeline.append(facts.timeline("applied", f"case {case.state.status}"))
    return "applied"


def _refuse(case: CaseRow, facts: ReviewFacts, code: str, detail: str, fx: Effects) -> str:
    fx.dq(code, "case", case.case_id, detail, "review.completed", facts.source,
          facts.event_id, facts.completed_at)
    fx.timeline.append(facts.timeline("refused", detail))
    return "refused"


def _apply_transition(case: CaseRow, t: Transition, facts: ReviewFacts, policy: Any,
                      fx: Effects, ctx: HandlerContext) -> None:
    case.state = t.state
    case.updated_at = facts.completed_at
    case.dirty = True
    if facts.stage in ("initial", "second") and facts.decision in ("approved", "escalated"):
        case.deciders.append(PriorDecision(facts.stage, facts.decision, facts.reviewer_id))
    if t.state.status in TERMINAL:
        case.closed_at = facts.completed_at
    if t.state.status in (CaseStatus.APPROVED, CaseStatus.CLOSED):
        case.approved_amount = facts.amount
    add_clock_ops(fx, case, t.clocks, facts.completed_at, policy)
    _notices(case, t, facts, fx, ctx)
    if t.payout is not None:
        pid = payout_id(case.case_id, t.payout.review_id)
        event_id = payout_approved_event_id(pid)
        data = PayoutApproved(
            payout_id=pid, case_id=case.case_id, insurer=case.insurer,
            report_no=case.report_no, amount=t.payout.amount,
            approval_path=t.payout.approval_path.value, approved_at=t.payout.approved_at,
            pay_by=t.payout.pay_by, cat_code=case.cat_code,
        )
        fx.payouts.append(PayoutRow(pid, case.case_id, t.payout.review_id, case.insurer,
                           case.report_no, t.payout.amount, t.payout.approval_path.value,
                           t.payout.approved_at, t.payout.pay_by, case.cat_code, event_id))
        fx.output("payout.approved", PAYOUT_APPROVED, case.case_id, data, event_id, ctx.clock())
        if ctx.policy.payment_tracking(case.insurer):
            start_payment_clock(fx, case, t.payout.approved_at,
                                ctx.policy.payment_window(case.insurer, case.line), policy)


def _notices(case: CaseRow, t: Transition, facts: ReviewFacts,
             fx: Effects, ctx: HandlerContext) -> None:
    """Tell the customer (SPEC §4.12): all missing documents at once; the decision."""
    status = t.state.status
    if facts.decision == "documents_requested":  # every accepted one, with its full list
        fx.notice(notices.documents_required(
            case.case_id, facts.review_id, facts.stage, list(facts.missing_documents_list),
            facts.completed_at), ctx.clock())
    if status in (CaseStatus.APPROVED, CaseStatus.CLOSED, CaseStatus.REJECTED):
        decided = "rejected" if status is CaseStatus.REJECTED else "approved"
        case.decision, case.decided_at = decided, facts.completed_at
        fx.notice(notices.decision(
            case.case_id, facts.review_id, decided, facts.amount,
            t.payout.pay_by if t.payout else None, facts.completed_at), ctx.clock())


def start_payment_clock(fx: Effects, case: CaseRow, approved_at: datetime,
                        window: timedelta, policy: Any) -> None:
    """The ``payment`` clock (SPEC §4.4 v2): from approved_at, window ``sla.payment`` (default
    pay_by − approved_at = 10 days); callers skip it for an insurer without a settlement
    feed (``payment_tracking = false``). A case clock (at most one payout
    per case), so it escalates to the case owner and withdrawal rules see it."""
    fx.clock_ops.append(ClockOp(
        ClockOpKind.START, "case", case.case_id, Clock.PAYMENT.value, approved_at, window,
        warn_offset(window, policy.sla.warn_fraction), case.insurer, case.line, case.province))


def add_clock_ops(fx: Effects, case: CaseRow, effects: ClockEffects, at: datetime,
                  policy: Any) -> None:
    """Case clock effects as ops, in the order resume, pause, stop, start."""
    for op, clocks in ((ClockOpKind.RESUME, effects.resume), (ClockOpKind.PAUSE, effects.pause),
                       (ClockOpKind.STOP, effects.stop), (ClockOpKind.START, effects.start)):
        for clock in clocks:
            window = window_for(clock, policy) if op is ClockOpKind.START else ZERO
            fx.clock_ops.append(ClockOp(
                op, "case", case.case_id, clock.value, at, window,
                warn_offset(window, policy.sla.warn_fraction), case.insurer, case.line,
                case.province,
            ))


__all__ = ["Clock", "ReviewFacts", "add_clock_ops", "apply_case_review", "surge_open_at"]
