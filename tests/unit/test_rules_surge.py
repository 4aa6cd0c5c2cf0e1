"""Surge windows, EWMA baseline, open / critical / resolve, staffing advice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from workers.rules.policy import Policy
from workers.rules.surge import (
    SurgeEvent,
    SurgeLevel,
    SurgeState,
    arrival_rate_per_hour,
    close_window,
    ewma,
    on_count,
    staffing_advice,
    surge_level,
    thresholds,
    window_closes_at,
    window_start,
    windows_to_close,
)

CST = timezone(timedelta(hours=8))
P = Policy()
W = SurgeLevel.WARNING
C = SurgeLevel.CRITICAL


def cst(h: int, m: int, s: int = 0, us: int = 0) -> datetime:
    return datetime(2026, 11, 21, h, m, s, us, tzinfo=CST)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (cst(14, 0), cst(14, 0)),
        (cst(14, 7, 12), cst(14, 0)),
        (cst(14, 9, 59, 999999), cst(14, 0)),
        (cst(14, 10), cst(14, 10)),
        (cst(0, 3), cst(0, 0)),
        (datetime(2026, 11, 21, 6, 7, tzinfo=UTC), cst(14, 0)),  # same instant, UTC
        (
            datetime(2026, 11, 21, 14, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 11, 21, 14, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_window_start(ts: datetime, expected: datetime) -> None:
    start = window_start(ts)
    assert start == expected
    assert start.utcoffset() == ts.utcoffset()  # stays in the event's own offset


def test_window_start_other_sizes_and_naive() -> None:
    assert window_start(cst(14, 7), timedelta(minutes=5)) == cst(14, 5)
    assert window_start(cst(14, 59), timedelta(minutes=30)) == cst(14, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        window_start(datetime(2026, 11, 21, 14, 7))


def test_window_close_and_windows_to_close() -> None:
    assert window_closes_at(cst(14, 0), P) == cst(14, 12)
    assert windows_to_close(cst(14, 0), cst(14, 21, 59), P) == []
    assert windows_to_close(cst(14, 0), cst(14, 22), P) == [cst(14, 10)]
    assert windows_to_close(cst(14, 0), cst(15, 0), P) == [
        cst(14, 10),
        cst(14, 20),
        cst(14, 30),
        cst(14, 40),
    ]


@pytest.mark.parametrize(
    ("prev", "count", "expected"),
    [("0", 10, "2.0"), ("10", 0, "8.0"), ("3.1", 3, "3.08"), ("5", 5, "5")],
)
def test_ewma(prev: str, count: int, expected: str) -> None:
    assert ewma(Decimal(prev), count, Decimal("0.2")) == Decimal(expected)


@pytest.mark.parametrize(
    ("count", "baseline", "expected"),
    [
        (19, "0", None),
        (20, "0", W),
        (39, "0", W),
        (40, "0", C),
        (20, "6.67", None),  # 3·B = 20.01
        (21, "6.67", W),
        (30, "10", W),  # max(20, 30)
        (29, "10", None),
        (59, "10", W),
        (60, "10", C),  # max(40, 60)
        (64, "3.1", C),
    ],
)
def test_surge_level(count: int, baseline: str, expected: SurgeLevel | None) -> None:
    assert surge_level(count, Decimal(baseline), P) == expected


def test_thresholds() -> None:
    assert thresholds(Decimal("3.1"), P) == (Decimal(20), Decimal(40))
    assert thresholds(Decimal(10), P) == (Decimal(30), Decimal(60))


@pytest.mark.parametrize(
    ("state", "count", "new_level", "event"),
    [
        (SurgeState(), 19, None, None),
        (SurgeState(), 20, W, SurgeEvent.OPENED),
        (SurgeState(), 45, C, SurgeEvent.OPENED),  # straight to critical
        (SurgeState(level=W), 25, W, None),
        (SurgeState(level=W), 40, C, SurgeEvent.ESCALATED),
        (SurgeState(level=C), 45, C, None),
        (SurgeState(level=C), 20, C, None),  # never de-escalates on count
        (SurgeState(level=W, calm_windows=2), 20, W, None),
    ],
)
def test_on_count(
    state: SurgeState, count: int, new_level: SurgeLevel | None, event: SurgeEvent | None
) -> None:
    new, got = on_count(state, count, P)
    assert (new.level, got) == (new_level, event)


def test_baseline_updates_only_without_surge() -> None:
    state, event = close_window(SurgeState(baseline=Decimal(5)), 10, P)
    assert (state.baseline, event) == (Decimal("6.0"), None)
    state, _ = close_window(state, 0, P)  # empty window counts 0
    assert state.baseline == Decimal("4.80")
    frozen, _ = close_window(SurgeState(baseline=Decimal(5), level=W), 100, P)
    assert frozen.baseline == Decimal(5)


def test_surge_resolves_after_three_calm_windows() -> None:
    state = SurgeState(baseline=Decimal(4), level=C)  # 1.5·B = 6
    events = []
    for count in (30, 5, 5, 6, 5, 5, 0):
        state, event = close_window(state, count, P)
        events.append((state.calm_windows, event))
    assert events == [
        (0, None),
        (1, None),
        (2, None),
        (0, None),  # 6 is not below 6: streak resets
        (1, None),
        (2, None),
        (0, SurgeEvent.RESOLVED),
    ]
    assert not state.open and state.baseline == Decimal(4)
    state, _ = close_window(state, 10, P)  # baseline resumes after
    assert state.baseline == Decimal("5.2")


def test_surge_opened_at_zero_baseline_resolves_on_empty_windows() -> None:
    state = SurgeState(level=W)
    for _ in range(2):
        state, event = close_window(state, 0, P)
        assert event is None
    state, event = close_window(state, 0, P)
    assert event is SurgeEvent.RESOLVED
    busy, _ = close_window(SurgeState(level=W), 1, P)  # 1 is not below 1.5·0
    assert busy.calm_windows == 0


def test_full_cycle_open_escalate_resolve() -> None:
    state = SurgeState(baseline=Decimal("3.1"))
    state, event = on_count(state, 20, P)
    assert event is SurgeEvent.OPENED
    state, event = on_count(state, 64, P)
    assert event is SurgeEvent.ESCALATED
    state, _ = close_window(state, 64, P)
    for _ in range(3):
        state, event = close_window(state, 2, P)
    assert event is SurgeEvent.RESOLVED and state == SurgeState(baseline=Decimal("3.1"))


@pytest.mark.parametrize(
    ("count", "window", "rate"),
    [
        (64, timedelta(minutes=10), 384.0),
        (0, timedelta(minutes=10), 0.0),
        (5, timedelta(minutes=5), 60.0),
    ],
)
def test_arrival_rate(count: int, window: timedelta, rate: float) -> None:
    assert arrival_rate_per_hour(count, window) == rate


def test_staffing_advice_for_the_sample_alert_window() -> None:
    advice = staffing_advice(64, 1.5, P)
    assert advice.arrival_rate_per_hour == 384.0
    assert advice.mean_survey_hours == 1.5
    assert advice.target == "80% of surveys start within 2 h"
    # 576 Erlangs of offered load need more than 576 adjusters.
    assert advice.adjusters_needed == 578


def test_staffing_advice_empty_window() -> None:
    assert staffing_advice(0, 1.5, P).adjusters_needed == 0
