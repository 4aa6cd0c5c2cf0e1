"""Panels: callbacks due and dissatisfied today (回访), open escalations per owner (首问负责制).

Read from ``rm_callbacks`` and ``rm_escalations`` only. "Open" escalations are the clock
and ``payment_failed`` ones not resolved yet (``dissatisfied`` and ``report`` have no
open/resolved state, SPEC §4.11); "today" is the Asia/Shanghai day of the result's
``completed_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import e, fmt_age, kpi, kpis, section, table

TOP_OWNERS = 20
Q_DUE = """SELECT count(*), count(*) FILTER (WHERE due_by < %s), min(due_by)
FROM rm_callbacks WHERE status = 'requested'"""
Q_TODAY = """SELECT count(*), count(*) FILTER (WHERE dissatisfied), count(*) FILTER (WHERE praise),
count(*) FILTER (WHERE report) FROM rm_callbacks
WHERE status = 'reached' AND (completed_at AT TIME ZONE 'Asia/Shanghai')::date = %s"""
# ops_open_escalations (0053) = rm_escalations' open ones found from the running clocks; the
# view itself decides "open" through a CASE and hashed every clock (9 s at 1M cases)
Q_OWNERS = """SELECT to_id, level, count(*), min(raised_at) FROM ops_open_escalations
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT %s"""


@dataclass(frozen=True)
class Callbacks:
    due: Row  # open, overdue, earliest due_by
    today: Row  # reached, dissatisfied, praise, reports
    owners: list[Row]  # to_id, level, open escalations, oldest raised_at


async def fetch_callbacks(db: Reader, t: PageTime) -> Callbacks:
    return Callbacks(await db.row(Q_DUE, t.now), await db.row(Q_TODAY, t.today),
                     await db.rows(Q_OWNERS, TOP_OWNERS))


def render_callbacks(c: Callbacks, t: PageTime) -> str:
    open_n, overdue, _ = c.due
    reached, dissatisfied, praise, reports = c.today
    boxes = kpis(
        kpi("Callbacks due 待回访", open_n),
        kpi("Overdue 超时", overdue, bad=bool(overdue)),
        kpi("Reached today 今日回访", reached),
        kpi("Dissatisfied today 不满意", dissatisfied, bad=bool(dissatisfied)),
        kpi("Praise today 表扬", praise),
        kpi("Reports today 举报", reports, bad=bool(reports)),
    )
    owners = table(["to", "level", "open", "oldest"],
                   [[e(to), e(level), e(n), e(fmt_age(t.now, ts))]
                    for to, level, n, ts in c.owners], 2, "No open escalations.")
    return section("回访与督办 Callbacks and escalations",
                   f"{boxes}<h2>Open escalations per owner (top {TOP_OWNERS})</h2>{owners}")


PANELS = [Panel("callbacks", 50, fetch_callbacks, render_callbacks)]
