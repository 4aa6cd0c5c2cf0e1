"""The report's charts as Altair charts (pure: report data in, chart out).

Each builder returns None when there is nothing to draw, so the HTML says so in words
instead of showing an empty frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import altair as alt

from workers.charts import Plot, data, tooltips
from workers.reports.data import LINES, ReportData
from workers.rules.scorecard import Ranked

WIDTH = 640
OUTCOME_COLORS = {"upheld": "#b3261e", "dismissed": "#7a869a", "open": "#f0a500",
                  "merged": "#c9ced6"}


def intake_chart(d: ReportData) -> Plot | None:
    """Cases reported per day, stacked by line."""
    rows = [{"day": day.isoformat(), "line": line, "reported": d.intake(day, line)}
            for day in d.period.days for line in (*LINES, "unknown") if d.intake(day, line)]
    if not rows:
        return None
    return Plot(alt.Chart(data()).mark_bar().encode(
        x=alt.X("day:O", title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("sum(reported):Q", title="cases reported"),
        color=alt.Color("line:N", title="line", sort=list(LINES)),
        tooltip=tooltips("day:O", "line:N", "reported:Q"),
    ).properties(width=WIDTH, height=240), rows)


def on_time_chart(d: ReportData) -> Plot | None:
    """Share of the clocks stopped in the period that kept no breach, per clock."""
    rows = [{"clock": c.clock, "rate": float(c.rate), "stopped": c.stopped,
             "label": f"{float(c.rate):.0%} of {c.stopped}" if c.rate > Decimal("0.15") else ""}
            for c in d.clocks if c.rate is not None]
    if not rows:
        return None
    base = alt.Chart(data()).encode(
        y=alt.Y("clock:N", title=None, sort=[c.clock for c in d.clocks if c.rate is not None]),
        x=alt.X("rate:Q", title="on time (clocks stopped in the period)",
                scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
    )
    bars = base.mark_bar(color="#2f6fb3").encode(tooltip=tooltips("clock:N", "label:N"))
    text = base.mark_text(align="right", dx=-4, fontSize=11, color="white").encode(text=alt.Text("label:N"))
    return Plot(alt.layer(bars, text).properties(width=WIDTH - 120, height=max(60, 26 * len(rows))),
                rows)


def callbacks_chart(d: ReportData) -> Plot | None:
    """Callbacks reached per day (bars) and their mean satisfaction (line, right axis)."""
    if not d.callbacks:
        return None
    rows = [{"day": c.day.isoformat(), "reached": c.reached,
             "satisfaction": None if c.satisfaction_avg is None else float(c.satisfaction_avg)}
            for c in d.callbacks]
    base = alt.Chart(data()).encode(
        x=alt.X("day:O", title=None, axis=alt.Axis(labelAngle=-45)))
    bars = base.mark_bar(color="#8fb8de").encode(y=alt.Y("reached:Q", title="reached"))
    line = base.mark_line(color="#b3261e", point=True).encode(
        y=alt.Y("satisfaction:Q", title="mean satisfaction (1-5)", scale=alt.Scale(domain=[1, 5])))
    return Plot(alt.layer(bars, line).resolve_scale(y="independent").properties(
        width=WIDTH, height=220), rows)


def complaints_chart(d: ReportData) -> Plot | None:
    """Complaints filed per category, by where they stand."""
    rows = [{"category": c.category, "outcome": outcome, "n": n}
            for c in d.complaints
            for outcome, n in (("upheld", c.upheld), ("dismissed", c.dismissed), ("open", c.open),
                               ("merged", c.merged)) if n]
    if not rows:
        return None
    return Plot(alt.Chart(data()).mark_bar().encode(
        y=alt.Y("category:N", title=None),
        x=alt.X("sum(n):Q", title="complaints filed"),
        color=alt.Color("outcome:N", sort=list(OUTCOME_COLORS),
                        scale=alt.Scale(domain=list(OUTCOME_COLORS),
                                        range=list(OUTCOME_COLORS.values()))),
        tooltip=tooltips("category:N", "outcome:N", "n:Q"),
    ).properties(width=WIDTH - 120, height=max(60, 28 * len({r["category"] for r in rows}))), rows)


def scorecard_chart(ranked: Sequence[Ranked], top: int = 15) -> Plot | None:
    """Penalty of the worst adjusters (those with at least one reason), worst on top."""
    rows = [{"adjuster": f"{r.row.adjuster_id} {r.row.name_masked or ''}".strip(),
             "penalty": float(r.penalty), "reasons": "; ".join(r.reasons)}
            for r in ranked if r.reasons][:top]
    if not rows:
        return None
    return Plot(alt.Chart(data()).mark_bar(color="#b3261e").encode(
        y=alt.Y("adjuster:N", title=None, sort=None),
        x=alt.X("penalty:Q", title="penalty (weighted issues)"),
        tooltip=tooltips("adjuster:N", "penalty:Q", "reasons:N"),
    ).properties(width=WIDTH - 160, height=max(60, 22 * len(rows))), rows)
