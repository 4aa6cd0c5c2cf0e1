"""Customer notices (SPEC §4.12) as pure decisions: which notice, its id, due time, params.

A notice is identified by (kind, subject, trigger); each yields one notice, ever, so the
id is deterministic and a replay re-requests the same ids. Params never hold PII: a
complaint extension's ``reason`` is filled from the vault at publish time
(:mod:`infra.pii_fill`), ``to`` always is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas import NoticeKind, notice_id

#: every notice must be sent within an hour of its trigger (never later than the
#: complaint's due time for complaint notices)
NOTICE_WITHIN = timedelta(hours=1)

DISPATCH_ASSIGNED = NoticeKind.DISPATCH_ASSIGNED.value
DOCUMENTS_REQUIRED = NoticeKind.DOCUMENTS_REQUIRED.value
DELAY = NoticeKind.DELAY.value
DECISION = NoticeKind.DECISION.value
PAYMENT_PAID = NoticeKind.PAYMENT_PAID.value
COMPLAINT_RESULT = NoticeKind.COMPLAINT_RESULT.value
COMPLAINT_EXTENDED = NoticeKind.COMPLAINT_EXTENDED.value
KINDS = tuple(k.value for k in NoticeKind)
COMPLAINT_KINDS = frozenset({COMPLAINT_RESULT, COMPLAINT_EXTENDED})
#: the trigger of a ``delay`` notice is this literal (one per case)
DELAY_TRIGGER = "determination"


def money(amount: Decimal | None) -> str | None:
    """Output amounts: strings with exactly 2 decimals."""
    return None if amount is None else f"{amount.quantize(Decimal('0.01'))}"


@dataclass(frozen=True)
class Notice:
    """One notice decision (no recipient: that is filled at publish time)."""

    kind: str
    case_id: str | None
    complaint_id: str | None
    trigger: str
    created_at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    complaint_due_at: datetime | None = None

    @property
    def key(self) -> str:
        """Kafka key and CloudEvents subject: ``case_id``, else ``complaint_id``."""
        return str(self.case_id or self.complaint_id)

    @property
    def subject(self) -> str:
        """The ``<subject>`` of the id: the complaint for complaint notices (a complaint
        merged into another shares its case and closing review, yet gets its own notice,
        SPEC §4.7), else the case."""
        return str(self.complaint_id if self.kind in COMPLAINT_KINDS else self.case_id)

    @property
    def notice_id(self) -> str:
        """The deterministic id."""
        return notice_id(self.kind, self.subject, self.trigger)

    @property
    def recipient(self) -> str:
        """``complainant`` for complaint notices, else ``reporter``."""
        return "complainant" if self.kind in COMPLAINT_KINDS else "reporter"

    @property
    def due_by(self) -> datetime:
        """Trigger time + 1 h, capped at the complaint's due time for complaint notices."""
        due = self.created_at + NOTICE_WITHIN
        if self.kind in COMPLAINT_KINDS and self.complaint_due_at is not None:
            due = min(due, self.complaint_due_at)
        return due


def dispatch_assigned(case_id: str, dispatch_id: str, adjuster_id: str,
                      survey_due_by: datetime, at: datetime) -> Notice:
    """A dispatch is first assigned (not on reassignment)."""
    return Notice(DISPATCH_ASSIGNED, case_id, None, dispatch_id, at,
                  {"adjuster_id": adjuster_id, "survey_due_by": survey_due_by.isoformat()})


def documents_required(case_id: str, review_id: str, stage: str, missing: list[str],
                       at: datetime) -> Notice:
    """One-time notice of ALL missing documents (Insurance Law art. 22)."""
    return Notice(DOCUMENTS_REQUIRED, case_id, None, review_id, at,
                  {"missing_documents": list(missing), "stage": stage})


def delay(case_id: str, warned_at: datetime, due_at: datetime) -> Notice:
    """The determination clock's warning mark is set: the decision is near late."""
    return Notice(DELAY, case_id, None, DELAY_TRIGGER, warned_at,
                  {"clock": "determination", "due_at": due_at.isoformat()})


def decision(case_id: str, review_id: str, decided: str, amount: Decimal | None,
             pay_by: datetime | None, at: datetime) -> Notice:
    """Approved (payout or 0.00) or rejected; no amount/pay_by for 0.00 and rejections,
    and never a reason (the written refusal is the insurer's, art. 24)."""
    paid = decided == "approved" and amount is not None and amount > 0
    return Notice(DECISION, case_id, None, review_id, at, {
        "decision": decided, "amount": money(amount) if paid else None,
        "pay_by": pay_by.isoformat() if paid and pay_by else None})


def payment_paid(case_id: str, payout_id: str, amount: Decimal, paid_at: datetime) -> Notice:
    """The payout's first ``paid`` settlement."""
    return Notice(PAYMENT_PAID, case_id, None, payout_id, paid_at,
                  {"amount": money(amount), "paid_at": paid_at.isoformat()})


def complaint_result(complaint_id: str, case_id: str | None, review_id: str, decided: str,
                     at: datetime, complaint_due_at: datetime | None) -> Notice:
    """A complaint (or one merged into it) is closed ``upheld``/``dismissed``."""
    return Notice(COMPLAINT_RESULT, case_id, complaint_id, review_id, at,
                  {"decision": decided}, complaint_due_at)


def complaint_extended(complaint_id: str, case_id: str | None, review_id: str,
                       new_due_at: datetime, at: datetime,
                       complaint_due_at: datetime | None) -> Notice:
    """An accepted extension; ``reason`` (PII) is filled from the review's vault row."""
    return Notice(COMPLAINT_EXTENDED, case_id, complaint_id, review_id, at,
                  {"due_at": new_due_at.isoformat(), "reason": None}, complaint_due_at)


def suppressed_by_withdrawal(n: Notice, withdrawn_at: datetime | None) -> bool:
    """No notice for a withdrawn case after the withdrawal (by data time, so replays agree).

    Complaint notices go on: complaints are handled as usual after a withdrawal.
    """
    return (withdrawn_at is not None and n.kind not in COMPLAINT_KINDS
            and n.created_at >= withdrawn_at)
