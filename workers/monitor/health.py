"""Backlog and health checks (SPEC §4.6), run by one worker per interval.

Each check turns current Postgres state into :class:`Condition` objects per scope; the
alert lifecycle (open once, escalate, resolve after N clear checks) is in ``alerts``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from topics import REVIEW_COMPLETED
from workers.context import HandlerContext
from workers.rules.callbacks import SATISFACTION_MAX_SHARE, SATISFACTION_WINDOW, satisfaction_hits
from workers.rules.complaints import ComplaintFact, group_complaints
from workers.rules.policy import Policy
from workers.store.alerts import Condition, reconcile
from workers.store.effects import Effects


async def backlog_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """Queued dispatches per city (count or oldest age) and parked events too old."""
    b = policy.backlog
    cur = await conn.execute(
        "SELECT province, city, count(*), extract(epoch FROM %s - min(requested_at))"
        " FROM dispatches WHERE status = 'queued' GROUP BY 1, 2", (now,))
    out = []
    for province, city, n, age_s in await cur.fetchall():
        too_many = n > b.queue_per_city
        too_old = age_s is not None and age_s > b.oldest_queued.total_seconds()
        if too_many or too_old:
            severity = "critical" if n > 2 * b.queue_per_city else "warning"
            out.append(Condition(
                {"province": province, "city": city}, severity,
                float(n) if too_many else round(age_s / 60, 1),
                float(b.queue_per_city) if too_many else b.oldest_queued.total_seconds() / 60,
                f"{city}: {n} dispatches queued, oldest {int(age_s // 60)} min"))
    cur = await conn.execute(
        "SELECT count(*) FROM parked_events WHERE parked_at < %s", (now - b.parked_older_than,))
    row = await cur.fetchone()
    if row and row[0]:
        out.append(Condition({"topic": REVIEW_COMPLETED}, "warning", float(row[0]), 0.0,
                             f"{row[0]} events parked for more than 24 h"))
    return out


async def lag_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """Input topics whose consumer lag (oldest unconsumed record) exceeds the limit."""
    limit = policy.backlog.consumer_lag.total_seconds()
    cur = await conn.execute(
        "SELECT topic, max(lag_seconds) FROM consumer_lag WHERE reported_at > %s"
        " GROUP BY topic HAVING max(lag_seconds) > %s",
        (now - 2 * policy.backlog.check_interval, limit))
    return [Condition({"topic": t}, "critical" if s > 5 * limit else "warning", round(s, 1),
                      limit, f"{t}: consumer lag {int(s)} s") for t, s in await cur.fetchall()]


async def breach_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """(clock, insurer) scopes with a breach detected in the lookback window."""
    cur = await conn.execute(
        "SELECT clock, coalesce(insurer, 'unknown'), count(*) FROM sla_clocks"
        " WHERE breach_seen_at > %s GROUP BY 1, 2", (now - policy.backlog.breach_lookback,))
    return [Condition({"clock": c, "insurer": i}, "warning", float(n), 0.0,
                      f"{n} {c} SLA breach(es) for {i} in the last 15 min")
            for c, i, n in await cur.fetchall()]


async def group_complaint_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """≥ 5 complaints in 24 h against one adjuster or about one (insurer, city)."""
    cur = await conn.execute(
        "SELECT filed_at, insurer, against_adjuster_id, case_id, city FROM complaints"
        " WHERE merged_into IS NULL AND filed_at > %s AND filed_at <= %s",
        (now - policy.group_complaint.window, now))
    facts = [ComplaintFact(*r) for r in await cur.fetchall()]
    out = []
    for hit in group_complaints(facts, now, policy):
        scope = hit.scope_dict()
        about = "adjuster" if "adjuster_id" in scope else "insurer and city"
        out.append(Condition(scope, "warning", float(hit.count),
                             float(policy.group_complaint.min_count),
                             f"{hit.count} complaints in 24 h about one {about}"))
    return out


async def data_quality_conditions(conn: Any, now: datetime, policy: Policy,
                                  fx: Effects) -> list[Condition]:
    """Cases/complaints still unknown 24 h after their first parked event."""
    cur = await conn.execute(
        "SELECT subject_type, subject_id, min(data_time) FROM parked_events"
        " WHERE data_time < %s GROUP BY 1, 2",
        (now - policy.backlog.parked_unknown_after,))
    rows = await cur.fetchall()
    for subject_type, subject_id, first in rows:
        fx.dq("subject_unknown", subject_type, subject_id,
              f"{subject_type} still unknown 24 h after its first parked event",
              data_time=first)
    if not rows:
        return []
    return [Condition({"topic": REVIEW_COMPLETED}, "warning", float(len(rows)), 0.0,
                      f"{len(rows)} parked subject(s) unknown for more than 24 h")]


async def satisfaction_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """Adjusters with ≥ 5 reached callbacks in 7 days, ≥ 40 % dissatisfied (SPEC §4.10)."""
    cur = await conn.execute(
        "SELECT adjuster_id, completed_at, satisfaction FROM callbacks WHERE status = 'reached'"
        " AND adjuster_id IS NOT NULL AND completed_at > %s AND completed_at <= %s",
        (now - SATISFACTION_WINDOW, now))
    return [Condition({"adjuster_id": h.adjuster_id}, "warning", round(h.share, 3),
                      SATISFACTION_MAX_SHARE,
                      f"{h.dissatisfied} of {h.reached} reached callbacks in 7 days dissatisfied")
            for h in satisfaction_hits(await cur.fetchall(), now)]
async def payment_failed_conditions(conn: Any, now: datetime, policy: Policy) -> list[Condition]:
    """Insurers with a payout whose latest settlement failed (SPEC §4.8): open while any."""
    cur = await conn.execute(
        "SELECT insurer, count(*) FROM payouts WHERE status = 'failed' GROUP BY insurer")
    return [Condition({"insurer": insurer}, "warning", float(n), 0.0,
                      f"{n} payout(s) of {insurer} failed and not paid since")
            for insurer, n in await cur.fetchall()]


async def run_checks(conn: Any, now: datetime, ctx: HandlerContext, fx: Effects) -> None:
    """One round of every §4.6 check, reconciled into alerts."""
    policy: Policy = ctx.policy.default
    n = policy.backlog.resolve_checks
    for kind, conditions in (
        ("backlog", await backlog_conditions(conn, now, policy)),
        ("consumer_lag", await lag_conditions(conn, now, policy)),
        ("sla_breach", await breach_conditions(conn, now, policy)),
        ("group_complaint", await group_complaint_conditions(conn, now, policy)),
        ("data_quality", await data_quality_conditions(conn, now, policy, fx)),
        ("satisfaction", await satisfaction_conditions(conn, now, policy)),
        ("payment_failed", await payment_failed_conditions(conn, now, policy)),
    ):
        await reconcile(conn, kind, conditions, now, n, ctx, fx)
