"""Callback requests (回访, SPEC §4.10): recorded once, clock started, sent when the case is known.

Handlers decide requests with :mod:`workers.rules.callbacks` at their trigger (a survey
completed, a case closed or rejected, a complaint closed) and call
:func:`request_callbacks` in their transaction. Each (kind, subject) is requested once,
ever (``callback_id``). A case callback whose case is not known yet waits in
``callbacks`` (``enqueued`` false) and is sent by :func:`release_callbacks` when the case
arrives; its times still come from its trigger. The outbox row holds no recipient:
``to.name``/``to.phone`` are filled at publish time from the vault (``infra.pii_fill``).
Attempts that arrived before their request (parked) are applied when it is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.rows import class_row

from infra.pii_fill import complainant_of, reporter_of
from schemas import CallbackRequested, callback_id
from topics import CALLBACK_REQUESTED
from workers.context import HandlerContext
from workers.handlers.common import lock_subjects
from workers.rules.callbacks import COMPLAINT, CallbackRequest
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset
from workers.store.effects import Effects, flush


async def send_callbacks(conn: AsyncConnection[Any], ctx: HandlerContext,
                         requests: Sequence[tuple[CallbackRequest, str | None]],
                         case_ids: Iterable[str] = ()) -> None:
    """Request callbacks and release those waiting for ``case_ids``, in their own effects.

    Called after the handler's own ``flush``, so the rules saw every row of the batch
    (a survey and the rejection of its case in one batch give the same adjuster as in two).
    """
    case_ids = sorted(set(case_ids))
    if not requests and not case_ids:
        return
    fx = Effects()
    new = await request_callbacks(conn, fx, ctx, requests)
    await release_callbacks(conn, fx, ctx, case_ids=case_ids)
    await flush(conn, fx)
    # a callback clock started before its case was known gets the insurer now (the
    # sla_breach alert scope; the same row whichever topic was consumed first)
    await conn.execute(
        "UPDATE sla_clocks c SET insurer = b.insurer FROM callbacks b"
        " WHERE c.subject_type = 'callback' AND c.clock = 'callback'"
        " AND c.subject_id = b.callback_id AND c.insurer IS NULL AND b.insurer IS NOT NULL"
        " AND (b.callback_id = ANY(%b) OR b.case_id = ANY(%b))", (new, case_ids))


async def request_callbacks(conn: AsyncConnection[Any], fx: Effects, ctx: HandlerContext,
                            requests: Sequence[tuple[CallbackRequest, str | None]]) -> list[str]:
    """Record new requests, each with its insurer when known (a known callback_id changes
    nothing); returns the new ids."""
    if not requests:
        return []
    by_id = {callback_id(r.kind, r.subject_id): r for r, _ in requests}
    insurers = {callback_id(r.kind, r.subject_id): ins for r, ins in requests}
    await lock_subjects(conn, [f"callback:{cid}" for cid in by_id])
    cur = await conn.execute(
        "INSERT INTO callbacks (callback_id, kind, case_id, complaint_id, dispatch_id,"
        " adjuster_id, reason, requested_at, due_by) SELECT * FROM unnest(%b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::timestamptz[], %b::timestamptz[]) ON CONFLICT (callback_id) DO UPDATE"
        # a complaint applied after the close makes a sampled closing callback mandatory:
        # the same row as when the complaint came first (no second request)
        " SET reason = 'mandatory' WHERE EXCLUDED.reason = 'mandatory'"
        " AND callbacks.reason <> 'mandatory'"
        " RETURNING callback_id, xmax = 0",
        [list(c) for c in zip(*[(cid, r.kind, r.case_id, r.complaint_id, r.dispatch_id,
                                  r.adjuster_id, r.reason, r.requested_at, r.due_by)
                                 for cid, r in by_id.items()], strict=True)])
    new = [r[0] for r in await cur.fetchall() if r[1]]  # inserted now, not upgraded
    for cid in new:
        r = by_id[cid]
        window = r.due_by - r.requested_at
        fx.clock_ops.append(ClockOp(ClockOpKind.START, "callback", cid, Clock.CALLBACK.value,
                                    r.requested_at, window,
                                    warn_offset(window, ctx.policy.default.sla.warn_fraction),
                                    insurers.get(cid)))
        ctx_metrics_inc(ctx, r.kind, "requested")
    await release_callbacks(conn, fx, ctx, ids=new)
    return new


def ctx_metrics_inc(ctx: HandlerContext, kind: str, outcome: str) -> None:
    """Count in ``callbacks_total`` when the context carries metrics (workers do)."""
    metrics = getattr(ctx, "metrics", None)
    if metrics is not None:
        metrics.callbacks_total.labels(kind=kind, outcome=outcome).inc()


async def release_callbacks(conn: AsyncConnection[Any], fx: Effects, ctx: HandlerContext,
                            ids: Iterable[str] = (), case_ids: Iterable[str] = ()) -> None:
    """Send the waiting requests among ``ids`` and of ``case_ids`` whose subject is known.

    Case callbacks need their case (insurer, reporter); complaint callbacks their
    complaint. A case callback of a withdrawn case is cancelled instead (SPEC §4.9).
    """
    ids, case_ids = sorted(set(ids)), sorted(set(case_ids))
    if not ids and not case_ids:
        return
    rows = await _load_waiting(conn, ids, case_ids)
    await lock_subjects(conn, [f"callback:{w.callback_id}" for w in rows])
    now = ctx.clock()
    sent: list[tuple[str, str]] = []
    cancelled: list[tuple[str, datetime, str]] = []
    for w in rows:
        if w.insurer is None:
            continue  # waits for its case
        if w.kind != COMPLAINT and w.withdrawn_at is not None:
            cancelled.append((w.callback_id, w.withdrawn_at, w.insurer))  # at the withdrawal (SPEC §4.9)
            if w.requested_at >= w.withdrawn_at:
                continue  # triggered after the withdrawal: never asked for
        _output_request(fx, w, w.insurer, now)
        sent.append((w.callback_id, w.insurer))
    await _mark_released(conn, sent, cancelled)
    if sent or cancelled:
        from workers.handlers.callbacks import apply_parked_attempts  # it imports this module
        await apply_parked_attempts(conn, fx, ctx, [s[0] for s in sent] + [
            c for c, _, _ in cancelled], touch={c for c, _, _ in cancelled})


@dataclass(frozen=True)
class _Waiting:
    """A requested callback not sent yet, with its subject's insurer and withdrawal."""

    callback_id: str
    kind: str
    case_id: str | None
    complaint_id: str | None
    dispatch_id: str | None
    adjuster_id: str | None
    reason: str
    requested_at: datetime
    due_by: datetime
    insurer: str | None
    withdrawn_at: datetime | None


async def _load_waiting(conn: AsyncConnection[Any], ids: list[str],
                        case_ids: list[str]) -> list[_Waiting]:
    cur = conn.cursor(row_factory=class_row(_Waiting))
    await cur.execute(
        "SELECT b.callback_id, b.kind, b.case_id, b.complaint_id, b.dispatch_id,"
        " b.adjuster_id, b.reason, b.requested_at, b.due_by,"
        " CASE WHEN b.kind = 'complaint' THEN p.insurer ELSE c.insurer END AS insurer,"
        " c.withdrawn_at"
        " FROM callbacks b LEFT JOIN cases c ON c.case_id = b.case_id"
        " LEFT JOIN complaints p ON p.complaint_id = b.complaint_id"
        " WHERE NOT b.enqueued AND b.status = 'requested'"
        " AND (b.callback_id = ANY(%b) OR b.case_id = ANY(%b)) ORDER BY b.callback_id",
        (ids, case_ids))
    return await cur.fetchall()


def _output_request(fx: Effects, w: _Waiting, insurer: str, now: datetime) -> None:
    """Queue ``callback.requested``; the recipient is filled from the vault at publish time."""
    complaint = w.kind == COMPLAINT
    data = CallbackRequested(
        callback_id=w.callback_id, kind=w.kind, case_id=w.case_id,
        complaint_id=w.complaint_id, dispatch_id=w.dispatch_id, adjuster_id=w.adjuster_id,
        insurer=insurer, reason=w.reason, due_by=w.due_by, requested_at=w.requested_at,
        to={"role": "complainant" if complaint else "reporter",
            "name": "-", "phone": "-"})  # placeholders: nulled, filled at publish time
    # the insurer is known, so its join matched: the subject's id is not null
    subject = cast(str, w.complaint_id if complaint else w.case_id)
    pii = complainant_of(subject) if complaint else reporter_of(subject)
    fx.output("callback.requested", CALLBACK_REQUESTED, cast(str, w.case_id or w.complaint_id),
              data, w.callback_id, now, pii=pii)


async def _mark_released(conn: AsyncConnection[Any], sent: list[tuple[str, str]],
                         cancelled: list[tuple[str, datetime, str]]) -> None:
    """Record the insurer on each released row: sent ones as enqueued, the others cancelled."""
    if cancelled:
        await conn.execute(
            "UPDATE callbacks b SET cancelled_at = u.at, insurer = u.ins"
            " FROM unnest(%b::text[], %b::timestamptz[], %b::text[]) AS u(cid, at, ins)"
            " WHERE b.callback_id = u.cid AND b.cancelled_at IS NULL",
            [[c for c, _, _ in cancelled], [a for _, a, _ in cancelled],
             [i for _, _, i in cancelled]])
    if sent:
        await conn.execute(
            "UPDATE callbacks b SET enqueued = true, insurer = u.ins FROM unnest(%b::text[],"
            " %b::text[]) AS u(cid, ins) WHERE b.callback_id = u.cid",
            [[s[0] for s in sent], [s[1] for s in sent]])


__all__ = ["release_callbacks", "request_callbacks", "send_callbacks"]
