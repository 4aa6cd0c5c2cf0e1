"""Raising escalations (SPEC §4.11): load → decide (``workers.rules.escalations``) → write.

Clock escalations are raised by a reconcile over the marks of ``sla_clocks``, run in the
sweeper's transaction: it sees every mark that is set, whether the sweeper set it or a
pause, stop or extension settled it, so there is one place that raises them. The clock
rows are claimed ``FOR UPDATE SKIP LOCKED`` and the ``escalations`` row is keyed by the
deterministic ``escalation_id`` (ON CONFLICT DO NOTHING, outbox ``event_id`` unique), so
several workers sweeping at once raise each (subject, cause, level) exactly once.
A clock whose owner is not known yet (its case has not arrived) is left for a later sweep.

Other causes (``dissatisfied``, ``report``, ``payment_failed``) call
:func:`record_escalations` from their handler's transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from schemas import EscalationRaised, escalation_id
from topics import ESCALATIONS
from workers.context import HandlerContext
from workers.rules.escalations import ClockMarks, Escalation, clock_escalations
from workers.store.effects import Effects

# Owner and insurer of each clock's subject: case clocks and survey clocks (subject
# 'dispatch') → the case; complaint clocks → the complaint; callback clocks → the callback.
_MARKS = """
SELECT c.subject_type, c.subject_id, c.clock,
       coalesce(k.case_id, p.case_id, b.case_id) AS case_id,
       coalesce(p.complaint_id, b.complaint_id) AS complaint_id,
       coalesce(k.insurer, p.insurer, b.insurer) AS insurer, c.due_at, c.warned_at, c.breached_at,
       c.warn_escalated AS warn_done, c.breach_escalated AS breach_done,
       CASE WHEN c.subject_type = 'complaint' THEN
                coalesce(p.received_by, 'complaint_desk:' || p.insurer)
            WHEN c.subject_type = 'callback' THEN NULL
            ELSE coalesce(k.owner, 'desk:' || k.insurer) END AS owner
FROM sla_clocks c
LEFT JOIN dispatches d ON c.subject_type = 'dispatch' AND d.dispatch_id = c.subject_id
LEFT JOIN payouts y ON c.subject_type = 'payout' AND y.payout_id = c.subject_id
LEFT JOIN cases k ON k.case_id = CASE c.subject_type WHEN 'case' THEN c.subject_id
                                    WHEN 'dispatch' THEN d.case_id
                                    WHEN 'payout' THEN y.case_id END
LEFT JOIN complaints p ON c.subject_type = 'complaint' AND p.complaint_id = c.subject_id
LEFT JOIN callbacks b ON c.subject_type = 'callback' AND b.callback_id = c.subject_id
WHERE ((c.warned_at IS NOT NULL AND NOT c.warn_escalated)
       OR (c.breached_at IS NOT NULL AND NOT c.breach_escalated))
  AND coalesce(k.insurer, p.insurer, b.insurer) IS NOT NULL
ORDER BY c.subject_type, c.subject_id, c.clock
LIMIT %(limit)s
FOR UPDATE OF c SKIP LOCKED
"""


async def raise_clock_escalations(conn: Any, ctx: HandlerContext, fx: Effects,
                                  limit: int = 2000) -> list[Escalation]:
    """Raise the escalations of every mark not escalated yet (caller commits)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_MARKS, {"limit": limit})
    marks = []
    for r in await cur.fetchall():
        sup = ctx.policy.supervisor(r["insurer"])
        # a callback clock's owner-level escalation goes to the supervisor too
        owner = r["owner"] if r["subject_type"] != "callback" else sup
        marks.append(ClockMarks(**(r | {"owner": owner}), supervisor=sup))
    raised = [e for m in marks for e in clock_escalations(m)]
    if marks:
        await conn.execute(
            "UPDATE sla_clocks c SET warn_escalated = u.w, breach_escalated = u.b"
            " FROM unnest(%b::text[], %b::text[], %b::text[], %b::bool[], %b::bool[])"
            " AS u(st, sid, clk, w, b)"
            " WHERE c.subject_type = u.st AND c.subject_id = u.sid AND c.clock = u.clk",
            ([m.subject_type for m in marks], [m.subject_id for m in marks],
             [m.clock for m in marks],
             [m.warn_done or (m.warned_at is not None and m.owner is not None) for m in marks],
             [m.breach_done or m.breached_at is not None for m in marks]))
    return await record_escalations(conn, fx, raised, ctx.clock())


def recipient_id(to: str) -> str:
    """``to`` as the contract's id (no whitespace or control characters, ≤ 128): an owner or
    supervisor id built from an insurer code with a space (``desk:<insurer>``) must not make
    the escalation — and with it the sweeper's transaction — fail validation forever."""
    return (re.sub(r"[\s\x00-\x1f\x7f]+", "_", to) or "_")[:128]


async def record_escalations(conn: Any, fx: Effects, escalations: Sequence[Escalation],
                             now: datetime) -> list[Escalation]:
    """Insert escalations once each (by id) and queue ``escalation.raised`` for the new ones.

    Returns the ones raised now (an id seen before raises nothing).
    """
    if not escalations:
        return []
    by_id = {escalation_id(e.subject_type, e.subject_id, e.cause, e.level): e
             for e in escalations}
    rows = [(eid, e.subject_type, e.subject_id, e.case_id, e.complaint_id, e.cause, e.level,
             recipient_id(e.to), e.raised_at, e.due_at, e.summary, e.insurer)
            for eid, e in by_id.items()]
    cur = await conn.execute(
        "INSERT INTO escalations (escalation_id, subject_type, subject_id, case_id,"
        " complaint_id, cause, level, to_id, raised_at, due_at, summary, insurer)"
        " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],"
        " %b::text[], %b::text[]) ON CONFLICT DO NOTHING RETURNING escalation_id",
        [list(col) for col in zip(*rows, strict=True)])
    new = [r[0] for r in await cur.fetchall()]
    for eid in new:
        e = by_id[eid]
        data = EscalationRaised(
            escalation_id=eid, subject_type=e.subject_type, subject_id=e.subject_id,
            case_id=e.case_id, cause=e.cause, level=e.level, to=recipient_id(e.to), raised_at=e.raised_at,
            due_at=e.due_at, summary=e.summary)
        fx.output("escalation.raised", ESCALATIONS, e.key, data, eid, now)
    return [by_id[eid] for eid in new]


def count_escalations(metrics: Any, raised: Sequence[Escalation]) -> None:
    """``claimdesk_escalations_total{cause,level}`` after the raising transaction commits."""
    for (cause, level), n in Counter((e.cause, e.level) for e in raised).items():
        metrics.escalations_total.labels(cause=cause, level=level).inc(n)
