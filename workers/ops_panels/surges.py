"""Panel: highlighted banner of open surge alerts (巨灾应急), empty when there are none."""

from __future__ import annotations

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import (
    adjusters_needed,
    e,
    fmt_scope,
    fmt_time,
    section,
    severity,
    staffing_inputs,
    table,
)

MAX_SURGES = 50
Q_SURGES = """SELECT severity, scope, summary, opened_at, staffing FROM rm_alerts
WHERE resolved_at IS NULL AND kind = 'surge'
ORDER BY severity = 'critical' DESC, opened_at DESC LIMIT %s"""


async def fetch_surges(db: Reader, t: PageTime) -> list[Row]:
    """Open surge alerts, critical first."""
    return await db.rows(Q_SURGES, MAX_SURGES)


def render_surges(surges: list[Row], t: PageTime) -> str:
    """The banner (empty string when no surge is open)."""
    if not surges:
        return ""
    rows = [[severity(sev), e(fmt_scope(scope)), e(summary), e(fmt_time(opened)),
             e(adjusters_needed(staffing)), e(staffing_inputs(staffing))]
            for sev, scope, summary, opened, staffing in surges]
    # the inputs of the Erlang C advice next to the number (README: staffing advice by hand)
    body = table(["severity", "scope", "summary", "opened", "adjusters needed",
                  "Erlang C inputs"], rows, 4, "")
    return section(f"巨灾应急 Surges ({len(surges)})", body, wide=True, cls="surge")


PANELS = [Panel("surges", 10, fetch_surges, render_surges)]
