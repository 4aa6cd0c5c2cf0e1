"""Panel: reports per 10-minute window for the busiest cities over the last 3 hours, with
each city's surge thresholds (warning, critical) from its current baseline drawn in.

Busiest = cities with an open surge first, then the highest window count in the last hour.
The thresholds are today's (baseline now, SPEC §4.5); past windows were judged against the
baseline of their time, so a bar above an old line is not necessarily an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import altair as alt

from workers.charts import Plot, data, tooltips
from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.chart import chart_block, local
from workers.ops_panels.html import section
from workers.rules.surge import thresholds

TOP = 6
SPAN = timedelta(hours=3)
Q_WINDOWS = """WITH recent AS (
    SELECT scope_key, window_start, count FROM surge_windows
    WHERE scope_type = 'city' AND window_start >= %s AND window_start <= %s),
ranked AS (
    SELECT scope_key, baseline, level, row_number() OVER (
        ORDER BY level IS NOT NULL DESC, peak DESC NULLS LAST, total DESC, scope_key) AS rank
    FROM (SELECT r.scope_key, s.baseline, s.level, sum(r.count) AS total,
                 max(r.count) FILTER (WHERE r.window_start >= %s) AS peak
          FROM recent r
          LEFT JOIN surge_state s ON s.scope_type = 'city' AND s.scope_key = r.scope_key
          GROUP BY r.scope_key, s.baseline, s.level) g)
SELECT t.scope_key, coalesce(t.baseline, 0), t.level, r.window_start, r.count
FROM ranked t JOIN recent r USING (scope_key) WHERE t.rank <= %s
ORDER BY t.rank, r.window_start"""


@dataclass(frozen=True)
class Windows:
    rows: list[Row]  # scope_key, baseline, level, window_start, count


async def fetch_windows(db: Reader, t: PageTime) -> Windows:
    return Windows(await db.rows(Q_WINDOWS, t.now - SPAN, t.now, t.now - timedelta(hours=1), TOP))


def scope_label(key: str, level: str | None) -> str:
    """``温州市 (浙江省)`` from the ``province|city`` key, flagged when a surge is open."""
    province, _, city = key.partition("|")
    label = f"{city} ({province})" if city else key
    return f"{label} ⚠ {level}" if level else label


def surge_chart(w: Windows, t: PageTime) -> Plot | None:
    if not w.rows:
        return None
    rows = []
    order: list[str] = []  # facets in query order: open surges, then the busiest
    for key, baseline, level, start, count in w.rows:
        warn, crit = thresholds(Decimal(baseline), t.policy)
        label = scope_label(key, level)
        order += [] if label in order else [label]
        rows.append({"scope": label, "t": local(start), "count": count,
                     "warning": float(warn), "critical": float(crit),
                     "over": "critical" if count >= crit else "warning" if count >= warn else "normal"})
    x = alt.X("t:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%H:%M"))
    bars = alt.Chart().mark_bar().encode(
        x=x, y=alt.Y("count:Q", title="reports / 10 min"),
        color=alt.Color("over:N", legend=None, scale=alt.Scale(
            domain=["normal", "warning", "critical"], range=["#5b8fd0", "#f0a500", "#b3261e"])),
        tooltip=tooltips("scope:N", "count:Q", "warning:Q", "critical:Q"))
    warn_rule = alt.Chart().mark_rule(color="#f0a500", strokeDash=[5, 3]).encode(
        y=alt.Y("mean(warning):Q"))
    crit_rule = alt.Chart().mark_rule(color="#b3261e", strokeDash=[2, 2]).encode(
        y=alt.Y("mean(critical):Q"))
    layered = alt.layer(bars, warn_rule, crit_rule).properties(width=250, height=120)
    facet = alt.FacetChart(data=data(), spec=layered,
                           facet=alt.Facet("scope:N", title=None, sort=order), columns=3)
    return Plot(facet.resolve_scale(y="independent"), rows)  # each city on its own scale


def render_windows(w: Windows, t: PageTime) -> str:
    chart = surge_chart(w, t)
    body = ('<p class="muted">No reports in the last 3 hours.</p>' if chart is None else
            '<p class="muted">Dashed lines: warning (orange) and critical (red) thresholds'
            " from each city's current baseline.</p>" + chart_block("surge", chart))
    return section("报案量 Reports per 10 minutes (busiest cities, last 3 h)", body, wide=True)


PANELS = [Panel("surge_windows", 15, fetch_windows, render_windows)]
