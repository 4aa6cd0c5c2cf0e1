"""v2 surge warm-up and the cold-start floor (SPEC §4.5)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from workers.rules.policy import Policy, parse_policy_toml
from workers.rules.surge import SurgeEvent, SurgeLevel, SurgeState, cold_level, is_warm, on_count

CST = timezone(timedelta(hours=8))
P = Policy()
FIRST = datetime(2026, 11, 21, 8, 0, tzinfo=CST)  # window of the scope's earliest report


@pytest.mark.parametrize(
    ("start", "warm"),
    [
        (FIRST, False),
        (FIRST + timedelta(minutes=50), False),
        (FIRST + timedelta(minutes=60), True),  # "at least 60 minutes after": inclusive
        (FIRST + timedelta(hours=5), True),
        (FIRST - timedelta(minutes=10), False),
    ],
)
def test_a_window_is_warm_from_sixty_minutes_after_the_first_window(
    start: datetime, warm: bool
) -> None:
    assert is_warm(start, FIRST, P) is warm


def test_a_scope_without_reports_is_cold() -> None:
    assert not is_warm(FIRST, None, P)


@pytest.mark.parametrize(
    ("count", "level", "event"),
    [
        (20, None, None),  # would be a warning at B = 0 when warm
        (99, None, None),
        (100, SurgeLevel.CRITICAL, SurgeEvent.OPENED),  # the floor opens it, as critical
        (250, SurgeLevel.CRITICAL, SurgeEvent.OPENED),
    ],
)
def test_a_cold_window_opens_only_at_the_floor_and_then_as_critical(
    count: int, level: SurgeLevel | None, event: SurgeEvent | None
) -> None:
    new, got = on_count(SurgeState(), count, P, warm=False)
    assert (new.level, got) == (level, event)
    assert cold_level(count, P) == level


def test_a_warm_window_keeps_the_v1_thresholds() -> None:
    assert on_count(SurgeState(), 20, P, warm=True)[1] is SurgeEvent.OPENED
    assert on_count(SurgeState(baseline=Decimal(10)), 29, P)[1] is None


def test_cold_floor_and_warmup_are_policy_keys() -> None:
    book = parse_policy_toml('[defaults.surge]\ncold_floor = 150\nwarmup = "30m"\n')
    assert book.default.surge.cold_floor == 150
    assert is_warm(FIRST + timedelta(minutes=30), FIRST, book.default)
    assert on_count(SurgeState(), 120, book.default, warm=False)[1] is None
