"""Panel: running SLA clocks that are overdue or due within 24 hours, per clock, by how soon
(paused clocks are not counted: their time does not run)."""

from __future__ import annotations

import altair as alt

from workers.charts import Plot, data, tooltips
from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.chart import chart_block
from workers.ops_panels.html import section

BUCKETS = ("overdue", "< 1 h", "1–4 h", "4–24 h")
COLORS = ("#b3261e", "#e8710a", "#f0a500", "#9cc3e6")
Q_AT_RISK = """SELECT clock,
 CASE WHEN due_at <= %s THEN 0 WHEN due_at <= %s + interval '1 hour' THEN 1
      WHEN due_at <= %s + interval '4 hours' THEN 2 ELSE 3 END AS bucket, count(*)
FROM rm_sla_clocks
WHERE stopped_at IS NULL AND NOT paused AND due_at <= %s + interval '24 hours'
GROUP BY 1, 2 ORDER BY 1, 2"""


async def fetch_at_risk(db: Reader, t: PageTime) -> list[Row]:
    return await db.rows(Q_AT_RISK, *([t.now] * Q_AT_RISK.count("%s")))


def at_risk_chart(rows: list[Row]) -> Plot | None:
    if not rows:
        return None
    values = [{"clock": clock, "due": BUCKETS[bucket], "order": bucket, "clocks": n}
              for clock, bucket, n in rows]
    return Plot(alt.Chart(data()).mark_bar().encode(
        y=alt.Y("clock:N", title=None),
        x=alt.X("sum(clocks):Q", title="running clocks"),
        color=alt.Color("due:N", title="due", sort=list(BUCKETS),
                        scale=alt.Scale(domain=list(BUCKETS), range=list(COLORS)),
                        legend=alt.Legend(orient="top")),
        order=alt.Order("order:Q"),
        tooltip=tooltips("clock:N", "due:N", "clocks:Q"),
    ).properties(width=420, height=max(60, 24 * len({r[0] for r in rows}))), values)


def render_at_risk(rows: list[Row], t: PageTime) -> str:
    chart = at_risk_chart(rows)
    body = ('<p class="muted">No running clock is due within 24 h.</p>' if chart is None
            else chart_block("at_risk", chart))
    return section("时效风险 SLA clocks at risk (due within 24 h)", body)


PANELS = [Panel("clocks_at_risk", 35, fetch_at_risk, render_at_risk)]
