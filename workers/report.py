"""``claimdesk report daily``: one day's statistics per insurer × line × province."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg

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
    widths = [max(_width(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    # CJK characters take two terminal columns
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
