"""Panel: every open alert, surges first, then critical, newest first."""

from __future__ import annotations

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import adjusters_needed, e, fmt_scope, fmt_time, section, severity, table

MAX_ALERTS = 50
Q_ALERTS = """SELECT kind, severity, scope, summary, opened_at, staffing FROM rm_alerts
WHERE resolved_at IS NULL
ORDER BY kind = 'surge' DESC, severity = 'critical' DESC, opened_at DESC LIMIT %s"""


async def fetch_alerts(db: Reader, t: PageTime) -> list[Row]:
    return await db.rows(Q_ALERTS, MAX_ALERTS)


def render_alerts(alerts: list[Row], t: PageTime) -> str:
    rows = [[e(k), severity(sev), e(fmt_scope(scope)), e(summary), e(fmt_time(opened)),
             e(adjusters_needed(staffing))]
            for k, sev, scope, summary, opened, staffing in alerts]
    body = table(["kind", "severity", "scope", "summary", "opened", "adjusters needed"],
                 rows, 5, "No open alerts.")
    return section(f"告警 Open alerts ({len(alerts)})", body, wide=True)


PANELS = [Panel("alerts", 70, fetch_alerts, render_alerts)]
