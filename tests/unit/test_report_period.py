"""Report periods: ISO weeks and months in Asia/Shanghai days; bad values are clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from workers.reports.period import PeriodError, current, parse_month, parse_week


def test_iso_week_is_monday_to_sunday() -> None:
    p = parse_week("2026-W48")
    assert (p.start, p.end, len(p.days)) == (date(2026, 11, 23), date(2026, 11, 30), 7)
    assert p.start_at.isoformat() == "2026-11-23T00:00:00+08:00"
    assert p.scorecard_month == date(2026, 11, 1)
    # W01 of 2026 starts in 2025; its Thursday (1 January) gives it to January 2026
    assert parse_week("2026-W01").start == date(2025, 12, 29)
    assert parse_week("2026-W01").scorecard_month == date(2026, 1, 1)
    assert parse_week("2026-W53").start == date(2026, 12, 28)


def test_month_bounds() -> None:
    p = parse_month("2026-12")
    assert (p.start, p.end, len(p.days)) == (date(2026, 12, 1), date(2027, 1, 1), 31)
    assert parse_month("2028-02").end == date(2028, 3, 1)
    assert p.scorecard_month == date(2026, 12, 1)


@pytest.mark.parametrize(("fn", "text", "message"), [
    (parse_week, "2026-W60", "2026 has weeks W01 to W53"),
    (parse_week, "2025-W53", "2025 has weeks W01 to W52"),
    (parse_week, "2026-48", "expected an ISO week like 2026-W48"),
    (parse_week, "W48", "expected an ISO week"),
    (parse_month, "2026-13", "the month must be 01 to 12"),
    (parse_month, "2026-00", "the month must be 01 to 12"),
    (parse_month, "2026/11", "expected a month like 2026-11"),
    (parse_month, "11-2026", "expected a month like 2026-11"),
])
def test_bad_values_name_what_was_expected(fn: object, text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        fn(text)  # type: ignore[operator]


def test_current_period_uses_the_shanghai_day() -> None:
    late_sunday_utc = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # Monday 01:00 in Shanghai
    assert current("week", late_sunday_utc).label == "2026-W49"
    assert current("month", datetime(2026, 11, 30, 16, 30, tzinfo=UTC)).label == "2026-12"
