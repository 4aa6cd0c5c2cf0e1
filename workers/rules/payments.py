"""Payment settlement and case closure (SPEC §4.8, 结案) as pure decisions.

A payout's status is that of its latest settlement by (``settled_at``, ``settlement_id``),
so the result does not depend on the order settlements arrive in. The case is ``closed``
exactly while the payout is ``paid`` (``closed_at`` = that settlement's ``settled_at``); a
later ``failed`` (money returned) puts it back to ``approved``. The ``payment`` clock stops
at the earliest ``paid`` and is never restarted; the ``payment_paid`` notice goes once per
payout, at the first close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

PAID = "paid"
FAILED = "failed"


@dataclass(frozen=True)
class Settlement:
    """One applied settlement of a payout."""

    settlement_id: str
    status: str  # paid | failed
    settled_at: datetime
    failure_code: str | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        """Latest-wins order: ``settled_at``, then ``settlement_id``."""
        return (self.settled_at, self.settlement_id)


@dataclass(frozen=True)
class PayoutState:
    """What ``rm_payouts`` shows of a payout, derived from its settlements."""

    status: str  # approved | paid | failed
    paid_at: datetime | None  # latest paid settlement
    failed_at: datetime | None  # latest failed settlement
    failure_code: str | None  # of the latest failed settlement
    first_paid_at: datetime | None  # earliest paid: the payment clock's stop
    closed_at: datetime | None  # the case's closed_at while paid, else None


def payout_state(history: Sequence[Settlement]) -> PayoutState:
    """The payout's state after ``history`` (any order)."""
    if not history:
        return PayoutState("approved", None, None, None, None, None)
    latest = max(history, key=lambda s: s.order)
    paid = [s for s in history if s.status == PAID]
    failed = [s for s in history if s.status == FAILED]
    last_failed = max(failed, key=lambda s: s.order) if failed else None
    return PayoutState(
        status=latest.status,
        paid_at=max(s.settled_at for s in paid) if paid else None,
        failed_at=last_failed.settled_at if last_failed else None,
        failure_code=last_failed.failure_code if last_failed else None,
        first_paid_at=min(s.settled_at for s in paid) if paid else None,
        closed_at=latest.settled_at if latest.status == PAID else None,
    )


def amount_matches(settled: Decimal, payout: Decimal) -> bool:
    """A settlement must carry exactly the payout's amount (else ``amount_mismatch``)."""
    return settled.quantize(Decimal("0.01")) == payout.quantize(Decimal("0.01"))


def resolves_failure(failed: Settlement, history: Sequence[Settlement]) -> datetime | None:
    """When the ``payment_failed`` escalation of ``failed`` is resolved: the settled_at of
    the next later ``paid`` (by settlement order), else None (still open)."""
    later = [s for s in history if s.status == PAID and s.order > failed.order]
    return min(later, key=lambda s: s.order).settled_at if later else None
