"""``payment-settled`` (SPEC §4.8, 赔付支付 and 结案): load → decide → write.

A settlement whose payout is not known yet is parked (subject ``payout``) and applied
when the payout is made (:func:`settle_parked`, called by the handlers that create
payouts). One whose amount differs from the payout's is refused (``amount_mismatch``).
Otherwise the payout's status, the case's ``closed``/``approved`` status, the payment
clock, the ``payment_paid`` notice and the ``payment_failed`` escalation follow from the
payout's whole settlement history (:mod:`workers.rules.payments`), so the result does
not depend on the order settlements arrive in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

from schemas import PaymentSettled
from topics import PAYMENT_SETTLED
from workers.context import HandlerContext
from workers.escalations import count_escalations, record_escalations
from workers.handlers.callback_requests import send_callbacks
from workers.handlers.callback_triggers import closing_requests
from workers.handlers.common import claim_batch, lock_subjects
from workers.records import Incoming
from workers.rules import notices
from workers.rules.case_lifecycle import CaseStatus
from workers.rules.escalations import PAYMENT_FAILED, SUPERVISOR, Escalation
from workers.rules.payments import (
    PAID,
    Settlement,
    amount_matches,
    payout_state,
    resolves_failure,
)
from workers.rules.sla import Clock, ClockOp, ClockOpKind
from workers.store.effects import (
    CaseRow,
    Effects,
    TimelineRow,
    data_hash,
    flush,
    load_cases,
    same_data,
)
from workers.store.tables import ParkedKey, ParkedRow

PARK_SUBJECT = "payout"


@dataclass(frozen=True)
class SettlementFacts:
    """The facts of a payment.settled event (no PII in it)."""

    settlement_id: str
    payout_id: str
    case_id: str
    status: str
    amount: Decimal
    settled_at: datetime
    failure_code: str | None
    bank_ref: str | None
    source: str
    event_id: str
    data_hash: str

    @classmethod
    def of(cls, item: Incoming) -> SettlementFacts:
        """From a validated event."""
        d: PaymentSettled = item.data(PaymentSettled)
        return cls(d.settlement_id, str(d.payout_id), d.case_id, d.status.value, d.amount,
                   d.settled_at, d.failure_code.value if d.failure_code else None, d.bank_ref,
                   item.source, item.event_id, data_hash(d))

    def payload(self) -> str:
        """``parked_events.payload``."""
        return json.dumps({**self.__dict__, "amount": str(self.amount),
                           "settled_at": self.settled_at.isoformat()}, ensure_ascii=False)

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> SettlementFacts:
        """Inverse of :meth:`payload`."""
        return cls(**{**raw, "amount": Decimal(raw["amount"]),
                      "settled_at": datetime.fromisoformat(raw["settled_at"])})

    def row(self, outcome: str) -> tuple[Any, ...]:
        """The ``settlements`` row."""
        return (self.settlement_id, self.payout_id, self.case_id, self.status, self.amount,
                self.settled_at, self.failure_code, self.bank_ref, outcome, self.source,
                self.event_id, self.data_hash)

    def timeline(self, outcome: str, detail: str) -> TimelineRow:
        """Its ``rm_case_timeline`` row."""
        return TimelineRow(self.case_id, None, "payment.settled", self.settled_at, self.source,
                           self.event_id, outcome, detail)

    @property
    def settlement(self) -> Settlement:
        """As the rules see it."""
        return Settlement(self.settlement_id, self.status, self.settled_at, self.failure_code)


@dataclass
class PayoutRow:
    """A payout with its applied settlement history; ``dirty`` when it must be written."""

    payout_id: str
    case_id: str
    insurer: str
    amount: Decimal
    history: list[Settlement] = field(default_factory=list)
    dirty: bool = False


@dataclass
class _Batch:
    """What one batch loaded and changed."""

    payouts: dict[str, PayoutRow]
    cases: dict[str, CaseRow]
    known: dict[str, str]
    rows: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    escalations: list[Escalation] = field(default_factory=list)
    #: cases closed for the first time (结案回访 at the first close: the earliest paid)
    first_closes: list[tuple[str, str, str, datetime]] = field(default_factory=list)


async def apply_payment_settled_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of payment.settled events; one outcome per event."""
    outcomes, claimed = await claim_batch(conn, PAYMENT_SETTLED, items)
    todo = [(n, SettlementFacts.of(i)) for n, i in claimed]
    data = {n: i.data(PaymentSettled) for n, i in claimed}
    if not todo:
        return outcomes
    await lock_subjects(conn, [f"case:{f.case_id}" for _, f in todo])
    batch = await _load(conn, [f for _, f in todo])
    fx = Effects()
    for n, f in todo:
        outcomes[n] = _apply(f, batch, ctx, fx, data[n])
    await _write(conn, batch, fx, ctx)
    return outcomes


async def settle_parked(conn: AsyncConnection[Any], payout_ids: set[str], ctx: HandlerContext) -> None:
    """Apply the settlements parked for payouts just made (caller holds the case locks and
    has flushed the payouts), in data-time then event-id order."""
    if not payout_ids:
        return
    cur = await conn.execute(
        "SELECT payload FROM parked_events WHERE subject_type = %s AND subject_id = ANY(%b)"
        " ORDER BY data_time, event_id", (PARK_SUBJECT, list(payout_ids)))
    parked = [SettlementFacts.from_payload(r[0]) for r in await cur.fetchall()]
    if not parked:
        return
    batch = await _load(conn, parked)
    fx = Effects()
    for f in parked:
        batch.known.pop(f.settlement_id, None)  # its own 'parked' row
        _apply(f, batch, ctx, fx)
        fx.unparked.append(ParkedKey(f.source, f.event_id))
    await _write(conn, batch, fx, ctx)


def _apply(f: SettlementFacts, b: _Batch, ctx: HandlerContext, fx: Effects,
           data: PaymentSettled | None = None) -> str:
    # data: the live event's data (to compare with a legacy-format digest), None unparked
    if f.settlement_id in b.known:
        fx.timeline.append(f.timeline("duplicate", "settlement_id already settled"))
        if not same_data(b.known[f.settlement_id], f.data_hash, data):
            _dq(fx, f, "conflicting_duplicate",
                "payment.settled for a known settlement_id with different data")
        return "duplicate"
    b.known[f.settlement_id] = f.data_hash
    payout = b.payouts.get(f.payout_id)
    if payout is None:
        fx.parked.append(ParkedRow(f.source, f.event_id, PARK_SUBJECT, f.payout_id, f.settled_at,
                          f.payload()))
        b.rows[f.settlement_id] = f.row("parked")
        fx.timeline.append(f.timeline("parked", f"waiting for payout {f.payout_id}"))
        return "parked"
    refusal = _refusal(f, payout)
    if refusal is not None:
        _dq(fx, f, *refusal)
        b.rows[f.settlement_id] = f.row("refused")
        fx.timeline.append(f.timeline("refused", refusal[1]))
        return "refused"
    before = payout_state(payout.history)
    payout.history.append(f.settlement)
    payout.dirty = True
    after = payout_state(payout.history)
    b.rows[f.settlement_id] = f.row("applied")
    detail = f"payout {after.status}"
    case = b.cases.get(payout.case_id)
    if case is not None:
        detail += _close_or_reopen(case, after.closed_at, f.settled_at, fx)
        _clock_and_notice(f, payout, case, before.first_paid_at, after.first_paid_at, fx, ctx)
        if before.first_paid_at is None and after.first_paid_at is not None:
            b.first_closes.append((case.case_id, case.insurer, "closed", after.first_paid_at))
    if f.status != PAID:
        b.escalations.append(_failed_escalation(f, payout, ctx))
    fx.timeline.append(f.timeline("applied", detail))
    return "applied"


def _failed_escalation(f: SettlementFacts, payout: PayoutRow,
                       ctx: HandlerContext) -> Escalation:
    """Each failed settlement → a supervisor-level ``payment_failed`` escalation (§4.8)."""
    return Escalation(
        "settlement", f.settlement_id, payout.case_id, None, PAYMENT_FAILED, SUPERVISOR,
        ctx.policy.supervisor(payout.insurer), f.settled_at, None,
        f"payout {payout.payout_id} failed ({f.failure_code})", payout.insurer)


def _refusal(f: SettlementFacts, payout: PayoutRow) -> tuple[str, str] | None:
    if f.case_id != payout.case_id:
        return ("case_mismatch", "payment.settled names another case than its payout")
    if not amount_matches(f.amount, payout.amount):
        return ("amount_mismatch", "settled amount differs from the payout's amount")
    return None


def _close_or_reopen(case: CaseRow, closed_at: datetime | None, at: datetime,
                     fx: Effects) -> str:
    """closed exactly while the payout is paid; a later failed reopens (SPEC §4.8)."""
    if case.state.status not in (CaseStatus.APPROVED, CaseStatus.CLOSED):
        return ""
    status = CaseStatus.CLOSED if closed_at is not None else CaseStatus.APPROVED
    fx.cases[case.case_id] = case
    if status is not case.state.status or case.closed_at != closed_at:
        case.state = replace(case.state, status=status)
        case.closed_at = closed_at
        case.updated_at = max(case.updated_at or at, at)
        case.dirty = True
    return f"; case {status}"


def _clock_and_notice(f: SettlementFacts, payout: PayoutRow, case: CaseRow,
                      first_before: datetime | None, first_after: datetime | None,
                      fx: Effects, ctx: HandlerContext) -> None:
    """Stop the payment clock at the earliest paid; at the payout's first paid, tell the
    customer (once per payout, SPEC §4.8) — also when a later-dated failure applied before
    it keeps the case from closing now, so the outcome does not depend on arrival order."""
    if first_after is None or first_after == first_before:
        return
    # stop_earliest: an earlier paid arriving later moves the stop back (marks settled again)
    fx.clock_ops.append(ClockOp(ClockOpKind.STOP_EARLIEST, "case", case.case_id,
                                Clock.PAYMENT.value, first_after))
    if first_before is None:
        fx.notice(notices.payment_paid(case.case_id, payout.payout_id, payout.amount,
                                       f.settled_at), ctx.clock())


def _dq(fx: Effects, f: SettlementFacts, kind: str, detail: str) -> None:
    fx.dq(kind, "settlement", f.settlement_id, detail, "payment.settled", f.source,
          f.event_id, f.settled_at)


async def _load(conn: AsyncConnection[Any], facts: Sequence[SettlementFacts]) -> _Batch:
    ids = list({f.payout_id for f in facts})
    pcur = conn.cursor(row_factory=class_row(PayoutRow))
    await pcur.execute(
        "SELECT payout_id, case_id, insurer, amount FROM payouts WHERE payout_id = ANY(%b)",
        (ids,))
    payouts = {p.payout_id: p for p in await pcur.fetchall()}
    scur = conn.cursor(row_factory=dict_row)
    await scur.execute(
        "SELECT payout_id, settlement_id, status, settled_at, failure_code FROM settlements"
        " WHERE payout_id = ANY(%b) AND outcome = 'applied'", (ids,))
    for s in await scur.fetchall():
        payouts[s.pop("payout_id")].history.append(Settlement(**s))
    cur = await conn.execute(
        "SELECT settlement_id, data_hash FROM settlements WHERE settlement_id = ANY(%b)",
        (list({f.settlement_id for f in facts}),))
    known = {r[0]: r[1] for r in await cur.fetchall()}
    cases = await load_cases(conn, {p.case_id for p in payouts.values()})
    return _Batch(payouts, cases, known)


async def _resolve_failures(conn: AsyncConnection[Any], payouts: Sequence[PayoutRow]) -> None:
    """A payment_failed escalation is open until the next later paid (SPEC §4.11)."""
    rows = [(s.settlement_id, resolves_failure(s, p.history))
            for p in payouts for s in p.history if s.status != PAID]
    if rows:
        await conn.execute(
            "UPDATE escalations e SET resolved_at = u.at FROM unnest(%b::text[],"
            " %b::timestamptz[]) AS u(sid, at) WHERE e.subject_type = 'settlement'"
            " AND e.subject_id = u.sid AND e.cause = %s"
            " AND e.resolved_at IS DISTINCT FROM u.at",
            ([r[0] for r in rows], [r[1] for r in rows], PAYMENT_FAILED))


async def _write(conn: AsyncConnection[Any], b: _Batch, fx: Effects, ctx: HandlerContext) -> None:
    if b.rows:
        await conn.execute(
            "INSERT INTO settlements (settlement_id, payout_id, case_id, status, amount,"
            " settled_at, failure_code, bank_ref, outcome, source, event_id, data_hash)"
            " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[],"
            " %b::numeric[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[],"
            " %b::text[], %b::text[]) ON CONFLICT (settlement_id) DO UPDATE"
            " SET outcome = EXCLUDED.outcome",
            [list(c) for c in zip(*b.rows.values(), strict=True)])
    dirty = [p for p in b.payouts.values() if p.dirty]
    if dirty:  # one statement for the batch's payouts
        states = [(p.payout_id, payout_state(p.history)) for p in dirty]
        await conn.execute(
            "UPDATE payouts p SET status = u.st, paid_at = u.paid, failed_at = u.failed,"
            " failure_code = u.code, first_paid_at = u.first FROM unnest(%b::text[],"
            " %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::timestamptz[])"
            " AS u(id, st, paid, failed, code, first) WHERE p.payout_id = u.id",
            ([i for i, _ in states], [st.status for _, st in states],
             [st.paid_at for _, st in states], [st.failed_at for _, st in states],
             [st.failure_code for _, st in states], [st.first_paid_at for _, st in states]))
    raised = await record_escalations(conn, fx, b.escalations, ctx.clock())
    await _resolve_failures(conn, dirty)
    await flush(conn, fx)
    # 结案回访 at the first close (the earliest paid; a re-close asks for nothing new)
    await send_callbacks(conn, ctx, await closing_requests(conn, b.first_closes, ctx))
    if ctx.metrics is not None:
        count_escalations(ctx.metrics, raised)
