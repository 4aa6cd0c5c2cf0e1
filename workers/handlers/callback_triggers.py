"""The three callback triggers (SPEC §4.10): load what the rules need, let them decide.

- ``dispatch``: a survey ``completed`` closed a dispatch that had an adjuster;
- ``closing``: a case became ``closed`` or ``rejected`` (and, later, a complaint filed
  by the closing instant makes it mandatory: requested then, ``requested_at`` = the
  closing instant, same id);
- ``complaint``: a complaint was closed (with the complaints merged into it).

Each function returns (request, insurer) pairs for
:func:`workers.handlers.callback_requests.request_callbacks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from workers.context import HandlerContext
from workers.rules.callbacks import (
    CallbackRequest,
    closing_callback,
    complaint_callback,
    dispatch_callback,
)
from workers.store.effects import Effects

Requests = list[tuple[CallbackRequest, str | None]]
CLOSING_STATUSES = ("closed", "rejected")


async def dispatch_requests(conn: AsyncConnection[Any], survey_review_ids: Iterable[str],
                            ctx: HandlerContext) -> Requests:
    """Callbacks on the dispatches these ``completed`` surveys closed while assigned.

    Read after the closes are written: ``closed_by_review`` names the survey, and
    ``adjuster_id`` is the adjuster at survey (null when it was queued or never seen).
    """
    ids = sorted(set(survey_review_ids))
    if not ids:
        return []
    cur = await conn.execute(
        "SELECT d.dispatch_id, d.case_id, d.adjuster_id, d.closed_at, c.insurer"
        " FROM dispatches d LEFT JOIN cases c ON c.case_id = d.case_id"
        " WHERE d.closed_by_review = ANY(%b) AND d.adjuster_id IS NOT NULL", (ids,))
    out: Requests = []
    for dispatch_id, case_id, adjuster_id, closed_at, insurer in await cur.fetchall():
        req = dispatch_callback(dispatch_id, case_id, adjuster_id, closed_at,
                                ctx.policy.sample_percent("dispatch"), _window(ctx, insurer))
        if req is not None:
            out.append((req, insurer))
    return out


async def closing_requests(conn: AsyncConnection[Any], closed: Iterable[tuple[str, str, str, datetime]],
                           ctx: HandlerContext) -> Requests:
    """Callbacks for cases that became terminal: (case_id, insurer, status, closed_at)."""
    closed = [c for c in closed if c[2] in CLOSING_STATUSES]
    if not closed:
        return []
    case_ids = [c[0] for c in closed]
    filed = await _complaints_filed(conn, case_ids)
    adjusters = await _survey_adjusters(conn, case_ids)
    out: Requests = []
    for case_id, insurer, status, closed_at in closed:
        req = closing_callback(case_id, closed_at, status == "rejected", filed.get(case_id, []),
                               adjusters.get(case_id), ctx.policy.sample_percent("closing"),
                               _window(ctx, insurer))
        if req is not None:
            out.append((req, insurer))
    return out


async def late_complaint_requests(conn: AsyncConnection[Any], complaints: Iterable[tuple[str, datetime]],
                                  ctx: HandlerContext) -> Requests:
    """Mandatory closing callbacks made so by complaints (case_id, filed_at) applied after
    their case closed, filed at or before the closing instant."""
    filed: dict[str, list[datetime]] = {}
    for case_id, at in complaints:
        filed.setdefault(case_id, []).append(at)
    if not filed:
        return []
    # The closing instant is the FIRST close: a paid payout closed the case at its
    # first_paid_at even if a later failed settlement reopened it (SPEC §4.8), exactly as
    # the settlement handler decided the callback then; otherwise the case's closed_at.
    # (Reading only currently closed cases lost the mandatory callback when the complaint
    # was applied after the reopening: the chaos test saw it, arrival-order dependent.)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT c.case_id, c.insurer, CASE WHEN p.first_paid_at IS NULL THEN c.status"
        " ELSE 'closed' END AS status, coalesce(p.first_paid_at, c.closed_at) AS closed_at"
        " FROM cases c LEFT JOIN payouts p ON p.case_id = c.case_id"
        " WHERE c.case_id = ANY(%b) AND (p.first_paid_at IS NOT NULL"
        "  OR (c.status = ANY(%b) AND c.closed_at IS NOT NULL))",
        (sorted(filed), list(CLOSING_STATUSES)))
    rows = [(r["case_id"], r["insurer"], r["status"], r["closed_at"])
            for r in await cur.fetchall() if any(f <= r["closed_at"] for f in filed[r["case_id"]])]
    return await closing_requests(conn, rows, ctx)


def complaint_requests(closed: Iterable[tuple[str, str | None, str | None, str, datetime]],
                       ctx: HandlerContext) -> Requests:
    """Callbacks for closed complaints: (complaint_id, case_id, against_adjuster_id, insurer,
    closed_at)."""
    return [(complaint_callback(cid, case_id, against, at, _window(ctx, insurer)), insurer)
            for cid, case_id, against, insurer, at in closed]


def became_terminal(fx: Effects) -> list[tuple[str, str, str, datetime]]:
    """Cases of the batch that became closed or rejected (terminal statuses refuse every
    later review, so a changed terminal case became terminal in this batch)."""
    return [(c.case_id, c.insurer, c.state.status.value, c.closed_at)
            for c in fx.cases.values()
            if c.dirty and c.state.status.value in CLOSING_STATUSES and c.closed_at is not None]


def _window(ctx: HandlerContext, insurer: str | None) -> Any:
    return ctx.policy.callback_window(insurer) if insurer else ctx.policy.default.sla.callback


async def _complaints_filed(conn: AsyncConnection[Any], case_ids: list[str]) -> dict[str, list[datetime]]:
    cur = await conn.execute(
        "SELECT case_id, filed_at FROM complaints WHERE case_id = ANY(%b)", (case_ids,))
    out: dict[str, list[datetime]] = {}
    for case_id, filed_at in await cur.fetchall():
        out.setdefault(case_id, []).append(filed_at)
    return out


async def _survey_adjusters(conn: AsyncConnection[Any], case_ids: list[str]) -> dict[str, str]:
    """The adjuster of each case's latest completed survey (the dispatch's adjuster)."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (r.case_id) r.case_id, d.adjuster_id FROM reviews r"
        " JOIN dispatches d ON d.dispatch_id = r.dispatch_id"
        " WHERE r.case_id = ANY(%b) AND r.stage = 'survey' AND r.decision = 'completed'"
        " AND r.outcome = 'applied' AND d.adjuster_id IS NOT NULL"
        " ORDER BY r.case_id, r.completed_at DESC, r.review_id DESC", (case_ids,))
    return {r[0]: r[1] for r in await cur.fetchall()}
