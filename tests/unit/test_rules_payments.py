"""Payout status and case closure from the settlement history (SPEC §4.8)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from workers.rules.payments import (
    Settlement,
    amount_matches,
    payout_state,
    resolves_failure,
)

T = datetime(2026, 11, 21, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def s(sid: str, status: str, days: float, code: str | None = None) -> Settlement:
    return Settlement(sid, status, T + timedelta(days=days), code)


def test_no_settlement_is_approved() -> None:
    st = payout_state([])
    assert (st.status, st.closed_at, st.first_paid_at) == ("approved", None, None)


def test_latest_by_settled_at_then_settlement_id_wins_in_any_order() -> None:
    history = [s("S1", "failed", 1, "name_mismatch"), s("S2", "paid", 2),
               s("S3", "failed", 3, "returned"), s("S4", "paid", 3)]  # S4 > S3 at equal time
    states = {payout_state(list(p)) for p in itertools.permutations(history)}
    assert len(states) == 1
    st = states.pop()
    assert st.status == "paid" and st.closed_at == T + timedelta(days=3)
    assert (st.failed_at, st.failure_code) == (T + timedelta(days=3), "returned")
    assert st.first_paid_at == T + timedelta(days=2) and st.paid_at == T + timedelta(days=3)


def test_a_later_failed_reopens() -> None:
    st = payout_state([s("S1", "paid", 1), s("S2", "failed", 2, "returned")])
    assert (st.status, st.closed_at, st.first_paid_at) == ("failed", None, T + timedelta(days=1))


def test_amount_must_match_to_the_cent() -> None:
    assert amount_matches(Decimal("3200"), Decimal("3200.00"))
    assert not amount_matches(Decimal("3199.99"), Decimal("3200.00"))


def test_a_failure_is_resolved_by_the_next_later_paid_only() -> None:
    failed = s("S2", "failed", 2, "other")
    history = [s("S1", "paid", 1), failed, s("S4", "paid", 5), s("S3", "paid", 4)]
    assert resolves_failure(failed, history) == T + timedelta(days=4)
    assert resolves_failure(failed, history[:2]) is None
