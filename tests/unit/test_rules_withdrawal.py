"""Withdrawal decisions and the withdrawal/decision race (SPEC §4.9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from workers.rules.case_lifecycle import CaseState, CaseStatus, Stage
from workers.rules.sla import Clock
from workers.rules.withdrawal import (
    decide_withdrawal,
    dispatch_after_withdrawal,
    review_order_conflict,
)

T = datetime(2026, 11, 21, 9, 0, tzinfo=timezone(timedelta(hours=8)))
OPEN = CaseState(status=CaseStatus.SURVEYED, stage=Stage.INITIAL)


@pytest.mark.parametrize("status", [CaseStatus.REPORTED, CaseStatus.DISPATCHED,
                                    CaseStatus.SURVEYED, CaseStatus.SECOND_REVIEW,
                                    CaseStatus.DOCUMENTS_PENDING])
def test_an_open_case_is_withdrawn_and_every_case_clock_stops(status: CaseStatus) -> None:
    d = decide_withdrawal(replace(OPEN, status=status), False, T, None)
    assert d.accepted and d.state.status is CaseStatus.WITHDRAWN and d.state.stage is None
    assert Clock.DETERMINATION in d.stop and Clock.SURVEY not in d.stop


@pytest.mark.parametrize("status", [CaseStatus.APPROVED, CaseStatus.REJECTED,
                                    CaseStatus.CLOSED, CaseStatus.WITHDRAWN])
def test_a_decided_case_refuses_and_an_earlier_withdrawal_is_an_order_conflict(
    status: CaseStatus
) -> None:
    later = decide_withdrawal(replace(OPEN, status=status), False, T, T - timedelta(hours=1))
    earlier = decide_withdrawal(replace(OPEN, status=status), False, T, T + timedelta(hours=1))
    assert not later.accepted and later.refusals == ("withdraw_after_decision",)
    assert earlier.refusals == ("withdraw_after_decision", "order_conflict")


def test_a_payout_refuses_the_withdrawal_whatever_the_status() -> None:
    assert not decide_withdrawal(OPEN, True, T, None).accepted


def test_reviews_and_dispatches_against_the_withdrawal_time() -> None:
    assert review_order_conflict(T - timedelta(seconds=1), T)
    assert not review_order_conflict(T, T) and not review_order_conflict(T, None)
    assert dispatch_after_withdrawal(T - timedelta(minutes=1), T) == "cancelled"
    assert dispatch_after_withdrawal(T, T) == "refused"
