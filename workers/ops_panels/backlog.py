"""Panel: backlog KPIs (complaints, parked events, outbox), queued dispatches per city and
pending reviews per stage."""

from __future__ import annotations

from dataclasses import dataclass

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import e, fmt_age, kpi, kpis, section, table

TOP_CITIES = 20
Q_QUEUED = """SELECT province, city, count(*), min(requested_at) FROM rm_dispatches
WHERE status = 'queued' GROUP BY province, city ORDER BY 3 DESC, 4 LIMIT %s"""
# the statuses that wait for a review, listed (not "NOT IN" the others) so that the index on
# (status, stage) reads only them instead of a year of closed cases
Q_STAGES = """SELECT stage, status, count(*) FROM rm_cases WHERE status IN
('surveyed', 'initial_review', 'second_review', 'joint_review', 'documents_pending')
GROUP BY 1, 2 ORDER BY 1, 2"""
Q_COMPLAINTS = """SELECT count(*), count(*) FILTER (WHERE due_at < %s)
FROM rm_complaints WHERE status = 'open'"""
Q_PARKED = "SELECT count(*), min(parked_at) FROM parked_events"
Q_OUTBOX = "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL"


@dataclass(frozen=True)
class Backlog:
    queued: list[Row]  # province, city, queued, oldest requested_at
    stages: list[Row]  # stage, status, cases
    complaints: Row  # open, overdue
    parked: Row  # count, oldest parked_at
    outbox: Row  # pending, oldest created_at


async def fetch_backlog(db: Reader, t: PageTime) -> Backlog:
    return Backlog(
        queued=await db.rows(Q_QUEUED, TOP_CITIES),
        stages=await db.rows(Q_STAGES),
        complaints=await db.row(Q_COMPLAINTS, t.now),
        parked=await db.row(Q_PARKED),
        outbox=await db.row(Q_OUTBOX),
    )


def render_backlog(b: Backlog, t: PageTime) -> str:
    open_c, overdue_c = b.complaints
    parked, parked_oldest = b.parked
    pending, pending_oldest = b.outbox
    boxes = kpis(
        kpi("Open complaints 未结投诉", open_c),
        kpi("Overdue complaints 超期", overdue_c, bad=bool(overdue_c)),
        kpi("Parked events 暂存", parked, f"oldest {fmt_age(t.now, parked_oldest)}"),
        kpi("Outbox pending 待发", pending, f"oldest {fmt_age(t.now, pending_oldest)}"),
    )
    queued = table(
        ["province", "city", "queued", "oldest"],
        [[e(p), e(c), e(n), e(fmt_age(t.now, ts))] for p, c, n, ts in b.queued], 2,
        "No queued dispatches.",
    )
    stages = table(["stage", "status", "cases"],
                   [[e(st), e(status), e(n)] for st, status, n in b.stages], 2,
                   "No reviews pending.")
    return section("积压 Backlog", f"{boxes}<h2>Queued dispatches (top {TOP_CITIES} cities)</h2>"
                   f"{queued}<h2>待审 Pending reviews per stage</h2>{stages}")


PANELS = [Panel("backlog", 20, fetch_backlog, render_backlog)]
