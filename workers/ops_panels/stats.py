"""Panel: today's ``rm_daily_stats`` rows (Asia/Shanghai day) with a total row."""

from __future__ import annotations

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import e, section, table

MAX_STATS_ROWS = 200
STAT_COLUMNS = ("reported", "dispatched", "surveyed", "approved", "rejected", "complaints",
                "sla_breaches")
Q_STATS = f"""SELECT insurer, line, province, {", ".join(STAT_COLUMNS)} FROM rm_daily_stats
WHERE day = %s ORDER BY insurer, line, province LIMIT %s"""


async def fetch_stats(db: Reader, t: PageTime) -> list[Row]:
    return await db.rows(Q_STATS, t.today, MAX_STATS_ROWS)


def render_stats(stats: list[Row], t: PageTime) -> str:
    rows = [[e(v) for v in r] for r in stats]
    if stats:
        totals = [sum(int(r[i]) for r in stats) for i in range(3, 3 + len(STAT_COLUMNS))]
        rows.append(["<b>Total</b>", "", ""] + [f"<b>{n}</b>" for n in totals])
    body = table(["insurer", "line", "province", *STAT_COLUMNS], rows, 3, "No events today yet.")
    return section(f"今日统计 Today ({t.today.isoformat()}, Asia/Shanghai)", body, wide=True)


PANELS = [Panel("daily_stats", 80, fetch_stats, render_stats)]
