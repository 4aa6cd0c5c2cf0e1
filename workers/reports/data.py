"""What a weekly or monthly report shows, read from the public ``rm_*`` views only.

The reader role (dashboards) may run reports: nothing here touches a base table or the vault.
Columns that later contract work adds (v2 rm_daily_stats columns, rm_callbacks) are read when
present and shown as not available otherwise, so the report works at every migration level.
Everything is read in one REPEATABLE READ, read-only transaction (one consistent snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from workers.reports.period import Period
from workers.rules.scorecard import ScoreRow

DAILY_COLUMNS = ("reported", "dispatched", "surveyed", "approved", "rejected", "complaints",
                 "sla_breaches", "closed", "withdrawn", "callbacks_reached", "dissatisfied")
CLOCKS = ("dispatch", "survey", "initial_review", "second_review", "joint_review",
          "determination", "complaint", "payment", "callback")
CATEGORIES = ("service_attitude", "delay", "amount_dispute", "adjuster_conduct", "privacy", "other")
LINES = ("auto", "property", "cargo", "liability", "health", "agriculture")
SCORE_FIELDS = tuple(ScoreRow.__dataclass_fields__)

Q_CLOCKS = """SELECT clock, count(*), count(*) FILTER (WHERE breached_at IS NULL)
FROM rm_sla_clocks WHERE stopped_at >= %s AND stopped_at < %s GROUP BY clock"""
Q_COMPLAINTS = """SELECT category, count(*), count(*) FILTER (WHERE merged_into IS NOT NULL),
 count(*) FILTER (WHERE merged_into IS NULL AND status = 'upheld'),
 count(*) FILTER (WHERE merged_into IS NULL AND status = 'dismissed'),
 count(*) FILTER (WHERE merged_into IS NULL AND status = 'open')
FROM rm_complaints WHERE filed_at >= %s AND filed_at < %s GROUP BY category"""
Q_CALLBACKS = """SELECT (completed_at AT TIME ZONE 'Asia/Shanghai')::date,
 count(*) FILTER (WHERE status = 'reached'),
 avg(satisfaction) FILTER (WHERE status = 'reached'),
 count(*) FILTER (WHERE status = 'reached' AND satisfaction <= 2),
 count(*) FILTER (WHERE status = 'refused'), count(*) FILTER (WHERE status = 'unreachable')
FROM rm_callbacks WHERE completed_at >= %s AND completed_at < %s GROUP BY 1"""


@dataclass(frozen=True)
class ClockRate:
    """Clocks that stopped in the period and how many of those kept no breach."""

    clock: str
    stopped: int
    on_time: int

    @property
    def rate(self) -> Decimal | None:
        return None if self.stopped == 0 else Decimal(self.on_time) / self.stopped


@dataclass(frozen=True)
class CallbackDay:
    day: date
    reached: int
    satisfaction_avg: Decimal | None
    dissatisfied: int
    refused: int
    unreachable: int


@dataclass(frozen=True)
class ComplaintCategory:
    category: str
    filed: int  # every complaint filed, merged ones included
    merged: int  # merged into another (有效投诉 counted once)
    upheld: int
    dismissed: int
    open: int


@dataclass
class ReportData:
    """Everything one report shows."""

    period: Period
    columns: tuple[str, ...]  # the rm_daily_stats columns this database has
    daily: dict[tuple[date, str], dict[str, int]] = field(default_factory=dict)  # (day, line)
    clocks: list[ClockRate] = field(default_factory=list)
    callbacks: list[CallbackDay] | None = None  # None: callbacks not tracked here yet
    complaints: list[ComplaintCategory] = field(default_factory=list)
    scorecard: list[ScoreRow] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Every daily column summed over the period."""
        return {c: sum(v.get(c, 0) for v in self.daily.values()) for c in self.columns}

    def intake(self, day: date, line: str) -> int:
        return self.daily.get((day, line), {}).get("reported", 0)


def _available(cur: psycopg.Cursor[Any], view: str, wanted: Sequence[str]) -> tuple[str, ...]:
    cur.execute("SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s", (view,))
    have = {r[0] for r in cur.fetchall()}
    return tuple(c for c in wanted if c in have)


def fetch_report(dsn: str, period: Period) -> ReportData:
    """Read the report of ``period``."""
    with psycopg.connect(dsn) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction(), conn.cursor() as cur:
            return _fetch(cur, period)


def _fetch(cur: psycopg.Cursor[Any], period: Period) -> ReportData:
    columns = _available(cur, "rm_daily_stats", DAILY_COLUMNS)
    data = ReportData(period, columns)
    sums = ", ".join(f"sum({c})::bigint" for c in columns)
    cur.execute(f"SELECT day, line, {sums} FROM rm_daily_stats WHERE day >= %s AND day < %s"
                " GROUP BY day, line", (period.start, period.end))
    for day, line, *values in cur.fetchall():
        data.daily[(day, line or "unknown")] = dict(zip(columns, map(int, values), strict=True))
    span = (period.start_at, period.end_at)
    cur.execute(Q_CLOCKS, span)
    found = {r[0]: ClockRate(r[0], r[1], r[2]) for r in cur.fetchall()}
    data.clocks = [found.pop(c, ClockRate(c, 0, 0)) for c in CLOCKS] + sorted(
        found.values(), key=lambda x: x.clock)
    cur.execute(Q_COMPLAINTS, span)
    by_cat = {r[0]: ComplaintCategory(*r) for r in cur.fetchall()}
    data.complaints = [by_cat.pop(c, ComplaintCategory(c, 0, 0, 0, 0, 0)) for c in CATEGORIES] \
        + list(by_cat.values())
    cur.execute("SELECT to_regclass('rm_callbacks') IS NOT NULL")
    row = cur.fetchone()
    if row and row[0]:
        cur.execute(Q_CALLBACKS, span)
        data.callbacks = sorted((CallbackDay(*r) for r in cur.fetchall()), key=lambda c: c.day)
    fields = ", ".join(SCORE_FIELDS)
    cur.execute(f"SELECT {fields} FROM rm_adjuster_scorecard WHERE month = %s",
                (period.scorecard_month,))
    data.scorecard = [ScoreRow(*r) for r in cur.fetchall()]
    return data
