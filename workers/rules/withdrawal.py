"""Withdrawal (SPEC §4.9, 撤案) as a pure decision.

The first of withdrawal and decision to be applied wins (a published payout cannot be
recalled): a withdrawal of a decided case is refused (``withdraw_after_decision``), a
review of a withdrawn case is refused (``case_withdrawn``); either way the refused event
is an ``order_conflict`` when its data time is the earlier one. This race is one of the
two documented exceptions to replay equality.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from workers.rules.case_lifecycle import DECIDED, CaseState, CaseStatus
from workers.rules.sla import Clock

WITHDRAW_AFTER_DECISION = "withdraw_after_decision"
ORDER_CONFLICT = "order_conflict"
#: every clock a case can have (its dispatches' survey clocks are stopped separately)
CASE_CLOCKS: tuple[Clock, ...] = (Clock.DISPATCH, Clock.INITIAL_REVIEW, Clock.SECOND_REVIEW,
                                  Clock.JOINT_REVIEW, Clock.DETERMINATION, Clock.PAYMENT)


@dataclass(frozen=True)
class WithdrawalDecision:
    """Accepted (new state, clocks to stop) or refused (codes for the registry)."""

    accepted: bool
    state: CaseState
    stop: tuple[Clock, ...] = ()
    refusals: tuple[str, ...] = ()
    detail: str = ""


def decide_withdrawal(state: CaseState, has_payout: bool, withdrawn_at: datetime,
                      decided_at: datetime | None) -> WithdrawalDecision:
    """Withdraw a case that is not terminal and has no payout."""
    if state.status in DECIDED or has_payout:
        codes: tuple[str, ...] = (WITHDRAW_AFTER_DECISION,)
        if decided_at is not None and withdrawn_at < decided_at:
            codes += (ORDER_CONFLICT,)
        return WithdrawalDecision(False, state, refusals=codes,
                                  detail=f"withdrawal after the case was {state.status}")
    new = replace(state, status=CaseStatus.WITHDRAWN, stage=None)
    return WithdrawalDecision(True, new, CASE_CLOCKS, detail="case withdrawn")


def review_order_conflict(completed_at: datetime, withdrawn_at: datetime | None) -> bool:
    """A review refused because of a withdrawal that it precedes in data time."""
    return withdrawn_at is not None and completed_at < withdrawn_at


def dispatch_after_withdrawal(requested_at: datetime, withdrawn_at: datetime) -> str:
    """A dispatch request for a withdrawn case: ``cancelled`` when requested before the
    withdrawal (as if it had arrived first and been cancelled), else ``refused``."""
    return "cancelled" if requested_at < withdrawn_at else "refused"
