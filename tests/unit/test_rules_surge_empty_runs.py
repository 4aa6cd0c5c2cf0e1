"""Runs of empty windows closed at once equal closing them one by one (the monitor's fast
path for scopes with decades-old reports: the fuzz test's 1970 case stalled it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from workers.rules.policy import Policy
from workers.rules.surge import (
    EXACT_EMPTY_RUN,
    SurgeEvent,
    SurgeLevel,
    SurgeState,
    close_empty_windows,
    close_window,
    n_windows_to_close,
    windows_to_close,
)

P = Policy()
T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def one_by_one(state: SurgeState, n: int) -> tuple[SurgeState, SurgeEvent | None]:
    event = None
    for _ in range(n):
        state, step = close_window(state, 0, P)
        event = event or step
    return state, event


@pytest.mark.parametrize("state", [
    SurgeState(Decimal("7.3")),
    SurgeState(Decimal(0)),
    SurgeState(Decimal(12), SurgeLevel.WARNING, 1),
    SurgeState(Decimal(12), SurgeLevel.CRITICAL, 0),
])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 50, EXACT_EMPTY_RUN])
def test_an_empty_run_equals_closing_each_window(state: SurgeState, n: int) -> None:
    assert close_empty_windows(state, n, P) == one_by_one(state, n)


def test_a_long_run_decays_in_one_power() -> None:
    n = EXACT_EMPTY_RUN + 5000
    fast, event = close_empty_windows(SurgeState(Decimal(12), SurgeLevel.WARNING, 0), n, P)
    slow, slow_event = one_by_one(SurgeState(Decimal(12), SurgeLevel.WARNING, 0), n)
    assert (fast.level, fast.calm_windows, event) == (None, 0, SurgeEvent.RESOLVED)
    assert (slow.level, slow_event) == (None, SurgeEvent.RESOLVED)
    assert abs(fast.baseline - slow.baseline) <= slow.baseline * Decimal("1e-20")


def test_decades_of_windows_are_counted_not_listed() -> None:
    for minutes in (0, 11, 12, 21, 22, 600):
        now = T0 + timedelta(minutes=minutes)
        assert n_windows_to_close(T0, now, P) == len(windows_to_close(T0, now, P))
    start = datetime(1969, 12, 31, 23, 50, tzinfo=UTC)
    n = n_windows_to_close(start, T0, P)
    assert n == (T0 - start - timedelta(minutes=12)) // timedelta(minutes=10)
    state, _ = close_empty_windows(SurgeState(Decimal("0.2")), n, P)
    assert Decimal(0) < state.baseline < Decimal("1e-1000")
