"""``claimdesk report daily|weekly|monthly``.

Daily: one day's rm_daily_stats per insurer × line × province. Weekly and monthly: the
supervisor reports of :mod:`workers.reports` (intake, SLA on-time rates, callbacks,
complaints, the adjuster scorecard) as a table, CSV or one self-contained HTML file.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import psycopg

from workers.reports.textfmt import pad, width

if TYPE_CHECKING:
    from workers.reports.period import Period

COLUMNS = ("insurer", "line", "province", "reported", "dispatched", "surveyed", "approved",
           "rejected", "complaints", "sla_breaches")
SHANGHAI = timezone(timedelta(hours=8))


def today_in_shanghai(now: datetime | None = None) -> date:
    """The Asia/Shanghai calendar day of ``now`` (UTC+8, no DST)."""
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def daily_rows(dsn: str, day: date) -> list[tuple[object, ...]]:
    """Rows of ``rm_daily_stats`` for ``day``, sorted."""
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM rm_daily_stats WHERE day = %s"
            " ORDER BY insurer NULLS LAST, line NULLS LAST, province NULLS LAST", (day,))
        return list(cur.fetchall())


def render(rows: list[tuple[object, ...]], fmt: str) -> str:
    """A plain-text table (with a total line) or CSV."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        return out.getvalue()
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    totals = ["TOTAL", "", ""] + [str(sum(int(r[i]) for r in rows)) for i in range(3, 10)]  # type: ignore[call-overload]
    table = [list(COLUMNS), *cells, totals]
    widths = [max(width(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(pad(v, w) for v, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def resolve_period(kind: str, value: str | None, now: datetime | None = None) -> Period:
    """``kind`` week (``value`` like 2026-W48) or month (2026-11); None = the one holding
    today. Raises PeriodError on a bad value — before anything connects."""
    from workers.reports.period import current, parse_month, parse_week

    if value is None:
        return current(kind, now)
    return parse_week(value) if kind == "week" else parse_month(value)


def period_report(dsn: str, period: Period, fmt: str, now: datetime | None = None) -> str:
    """The weekly or monthly report of ``period`` as a table, CSV or HTML."""
    from workers.reports.data import fetch_report
    from workers.reports.render import render_csv, render_html, render_table

    data = fetch_report(dsn, period)
    if fmt == "csv":
        return render_csv(data)
    if fmt == "html":
        return render_html(data, now or datetime.now(UTC))
    return render_table(data)
