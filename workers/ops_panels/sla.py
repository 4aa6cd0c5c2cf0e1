"""Panel: SLA clocks per clock — running, paused, warned (open, past 80 %), overdue (open,
past 100 %) and breached in the last 24 h (stopped or not)."""

from __future__ import annotations

from datetime import timedelta

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import bad_if, e, section, table

Q_CLOCKS = """SELECT clock,
 count(*) FILTER (WHERE stopped_at IS NULL AND NOT paused),
 count(*) FILTER (WHERE stopped_at IS NULL AND paused),
 count(*) FILTER (WHERE stopped_at IS NULL AND warned_at IS NOT NULL AND breached_at IS NULL),
 count(*) FILTER (WHERE stopped_at IS NULL AND breached_at IS NOT NULL),
 count(*) FILTER (WHERE breached_at >= %s)
FROM rm_sla_clocks WHERE stopped_at IS NULL OR breached_at >= %s GROUP BY clock ORDER BY clock"""


async def fetch_clocks(db: Reader, t: PageTime) -> list[Row]:
    since = t.now - timedelta(hours=24)
    return await db.rows(Q_CLOCKS, since, since)


def render_clocks(clocks: list[Row], t: PageTime) -> str:
    rows = [[e(c), e(run), e(paused), e(warned), bad_if(over), bad_if(br)]
            for c, run, paused, warned, over, br in clocks]
    body = table(["clock", "running", "paused", "warned", "overdue", "breached 24h"], rows, 1,
                 "No running clocks and no breach in 24 h.")
    return section("时效 SLA clocks", body)


PANELS = [Panel("sla_clocks", 30, fetch_clocks, render_clocks)]
