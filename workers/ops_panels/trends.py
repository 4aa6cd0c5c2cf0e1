"""Panel: queue depth, open escalations and SLA clocks at risk over the last 6 hours, from
the monitor's minute samples (``ops_samples``; these gauges keep no history of their own)."""

from __future__ import annotations

from datetime import timedelta

import altair as alt

from workers.charts import Plot, data, tooltips
from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.chart import chart_block, local
from workers.ops_panels.html import section

SPAN = timedelta(hours=6)
LABELS = {"queue_depth": "queued dispatches 待派", "open_escalations": "open escalations 升级",
          "clocks_at_risk": "clocks past warning 预警"}
Q_SAMPLES = """SELECT metric, sampled_at, value FROM ops_samples
WHERE sampled_at > %s AND sampled_at <= %s AND metric = ANY(%s) ORDER BY sampled_at"""


async def fetch_samples(db: Reader, t: PageTime) -> list[Row]:
    return await db.rows(Q_SAMPLES, t.now - SPAN, t.now, list(LABELS))


def trends_chart(samples: list[Row], t: PageTime) -> Plot | None:
    if not samples:
        return None
    rows = [{"metric": LABELS[m], "t": local(at), "value": v} for m, at, v in samples]
    return Plot(alt.Chart(data()).mark_line(interpolate="step-after").encode(
        x=alt.X("t:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%H:%M")),
        y=alt.Y("value:Q", title=None),
        color=alt.Color("metric:N", title=None, sort=list(LABELS.values()),
                        scale=alt.Scale(range=["#2f6fb3", "#b3261e", "#f0a500"]),
                        legend=alt.Legend(orient="top")),
        tooltip=tooltips("metric:N", "value:Q"),
    ).properties(width=520, height=180), rows)


def render_trends(samples: list[Row], t: PageTime) -> str:
    chart = trends_chart(samples, t)
    body = ('<p class="muted">No samples yet (the monitor records one a minute).</p>'
            if chart is None else chart_block("trends", chart))
    return section("趋势 Queue and escalations, last 6 h", body)


PANELS = [Panel("trends", 60, fetch_samples, render_trends)]
