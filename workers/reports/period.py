"""Report periods: an ISO week (``2026-W48``) or a calendar month (``2026-11``), both in
Asia/Shanghai calendar days, as half-open ``[start, end)`` day ranges.

Bad input raises :class:`PeriodError` with a message that says what was expected, so the CLI
can print it and exit 2 instead of a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))  # no DST
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A --week or --month value that names no period."""


@dataclass(frozen=True)
class Period:
    """``kind`` ``week`` or ``month``; ``label`` as given (``2026-W48``, ``2026-11``)."""

    kind: str
    label: str
    start: date
    end: date  # exclusive

    @property
    def days(self) -> list[date]:
        """Every calendar day of the period."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]

    @property
    def start_at(self) -> datetime:
        """The first instant (00:00 Asia/Shanghai of ``start``)."""
        return datetime.combine(self.start, time(), SHANGHAI)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end, time(), SHANGHAI)

    @property
    def scorecard_month(self) -> date:
        """The scorecard month shown: the month itself, or for a week the month holding its
        Thursday (the ISO rule that gives a week to a year)."""
        if self.kind == "month":
            return self.start
        thursday = self.start + timedelta(days=3)
        return thursday.replace(day=1)


def parse_week(text: str) -> Period:
    """``YYYY-Www`` (ISO 8601 week, Monday first)."""
    m = _WEEK.match(text.strip())
    if not m:
        raise PeriodError(f"--week {text!r}: expected an ISO week like 2026-W48")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        start = date.fromisocalendar(year, week, 1)
    except ValueError:
        last = date(year, 12, 28).isocalendar().week
        raise PeriodError(f"--week {text!r}: {year} has weeks W01 to W{last:02d}") from None
    return Period("week", f"{year}-W{week:02d}", start, start + timedelta(days=7))


def parse_month(text: str) -> Period:
    """``YYYY-MM``."""
    m = _MONTH.match(text.strip())
    if not m:
        raise PeriodError(f"--month {text!r}: expected a month like 2026-11")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12 or year < 1:
        raise PeriodError(f"--month {text!r}: the month must be 01 to 12")
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period("month", f"{year}-{month:02d}", start, end)


def current(kind: str, now: datetime | None = None) -> Period:
    """The week or month holding today (Asia/Shanghai) — the report so far."""
    today = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    if kind == "week":
        iso = today.isocalendar()
        return parse_week(f"{iso.year}-W{iso.week:02d}")
    return parse_month(f"{today.year}-{today.month:02d}")
