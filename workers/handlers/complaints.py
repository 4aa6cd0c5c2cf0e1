"""``complaint-filed`` and complaint-stage reviews (SPEC §4.7): registry, owner, merge,
15-day clock, extensions (v2), closing review (which also closes the complaints merged
into the closed one). Complaints never wait for a case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import ComplaintFiled
from workers.context import HandlerContext
from workers.handlers.callback_requests import send_callbacks
from workers.handlers.callback_triggers import complaint_requests, late_complaint_requests
from workers.handlers.common import claim_batch, lock_subjects, timeline_row
from workers.handlers.parking import take_parked
from workers.handlers.review_apply import ReviewFacts
from workers.records import Incoming
from workers.rules import notices
from workers.rules.complaints import (
    ComplaintRef,
    complaint_due_at,
    complaint_owner,
    decide_extension,
    should_merge,
)
from workers.rules.sla import Clock, ClockOp, ClockOpKind, warn_offset
from workers.store.effects import Effects, data_hash, flush
from workers.store.tables import ParkedKey


@dataclass
class ComplaintRow:
    """The mutable part of a complaint."""

    complaint_id: str
    case_id: str | None
    category: str
    status: str
    merged_into: str | None
    filed_at: datetime
    closed_at: datetime | None = None
    due_at: datetime | None = None
    extensions: int = 0
    extended_at: datetime | None = None
    insurer: str = ""
    against_adjuster_id: str | None = None
    closed_by: str | None = None
    dirty: bool = False


_COMPLAINT_COLS = ("complaint_id, case_id, category, status, merged_into, filed_at, closed_at,"
                   " due_at, extensions, extended_at, insurer, against_adjuster_id")


def closed_now(rows: dict[str, ComplaintRow]) -> list[tuple[str, str | None, str | None, str,
                                                           datetime]]:
    """Complaints closed in this batch (callback trigger, SPEC §4.10)."""
    return [(r.complaint_id, r.case_id, r.against_adjuster_id, r.insurer, r.closed_at)
            for r in rows.values() if r.dirty and r.closed_by and r.closed_at is not None]


async def load_complaints(conn: Any, ids: set[str]) -> dict[str, ComplaintRow]:
    """Known complaints among ``ids``, the complaints they were merged into, and every
    complaint merged into those (a closing review closes them too)."""
    if not ids:
        return {}
    cur = await conn.execute(
        "WITH roots AS (SELECT coalesce(merged_into, complaint_id) AS root FROM complaints"
        "   WHERE complaint_id = ANY(%b))"
        f" SELECT {_COMPLAINT_COLS} FROM complaints WHERE complaint_id = ANY(%b)"
        "   OR complaint_id IN (SELECT root FROM roots)"
        "   OR merged_into IN (SELECT root FROM roots)",
        (list(ids), list(ids)))
    return {r[0]: ComplaintRow(*r) for r in await cur.fetchall()}


async def complaint_case_locks(conn: Any, ids: set[str]) -> list[str]:
    """``case:<id>`` lock keys of the cases of these complaints (immutable once filed).

    A closing review changes every complaint merged into the closed one; taking the case
    lock serialises it with ``complaint.filed``, which merges under the same lock, so a
    complaint is never merged into one that is being closed.
    """
    if not ids:
        return []
    cur = await conn.execute(
        "SELECT DISTINCT case_id FROM complaints WHERE complaint_id = ANY(%b)"
        " AND case_id IS NOT NULL", (list(ids),))
    return [f"case:{r[0]}" for r in await cur.fetchall()]


def apply_complaint_review(facts: ReviewFacts, complaints: dict[str, ComplaintRow],
                           fx: Effects) -> str:
    """Close (upheld/dismissed) or extend the complaint, or the one it was merged into."""
    row = complaints[str(facts.complaint_id)]
    target = complaints.get(row.merged_into or "", row) if row.status == "merged" else row
    if target.status != "open":
        return _refuse(fx, facts, row, "complaint_closed",
                       f"complaint review after complaint {target.status}")
    if facts.decision == "extended":
        return _extend(facts, row, target, fx)
    for c in [target, *_merged_into(complaints, target)]:
        c.status = facts.decision
        c.closed_at = facts.completed_at
        c.closed_by = facts.review_id
        c.dirty = True
        fx.notice(notices.complaint_result(c.complaint_id, c.case_id, facts.review_id,
                                           facts.decision, facts.completed_at, c.due_at))
    fx.clock_ops.append(ClockOp(ClockOpKind.STOP, "complaint", target.complaint_id,
                                Clock.COMPLAINT.value, facts.completed_at))
    fx.timeline.append(facts.timeline("applied", f"complaint {facts.decision}"))
    return "applied"


def _merged_into(complaints: dict[str, ComplaintRow], target: ComplaintRow) -> list[ComplaintRow]:
    return sorted((c for c in complaints.values()
                   if c.merged_into == target.complaint_id and c.status == "merged"),
                  key=lambda c: c.complaint_id)


def _extend(facts: ReviewFacts, row: ComplaintRow, target: ComplaintRow, fx: Effects) -> str:
    """A complaint-stage ``extended`` review: new window from filing, marks re-settled."""
    assert target.due_at is not None
    d = decide_extension(target.filed_at, target.due_at, target.extensions, facts.completed_at)
    if d.refusal is not None or d.window is None:
        return _refuse(fx, facts, row, str(d.refusal),
                       f"extension {target.extensions + 1} refused ({d.refusal})")
    target.due_at = d.due_at
    target.extensions += 1
    target.extended_at = facts.completed_at
    target.dirty = True
    fx.clock_ops.append(ClockOp(ClockOpKind.EXTEND, "complaint", target.complaint_id,
                                Clock.COMPLAINT.value, facts.completed_at, d.window))
    new_due = target.filed_at + d.window  # = d.due_at: 30, then 60 days from filing
    fx.notice(notices.complaint_extended(target.complaint_id, target.case_id, facts.review_id,
                                         new_due, facts.completed_at, new_due))
    fx.timeline.append(facts.timeline("applied", f"complaint extended to {d.window.days} days"))
    return "applied"


def _refuse(fx: Effects, facts: ReviewFacts, row: ComplaintRow, kind: str, detail: str) -> str:
    fx.dq(kind, "complaint", row.complaint_id, detail, "review.completed", facts.source,
          facts.event_id, facts.completed_at)
    fx.timeline.append(facts.timeline("refused", detail))
    return "refused"


async def save_complaints(conn: Any, rows: dict[str, ComplaintRow]) -> None:
    """Write closed complaints."""
    dirty = [r for r in rows.values() if r.dirty]
    if dirty:
        async with conn.cursor() as cur:
            await cur.executemany(
                "UPDATE complaints SET status = %s, closed_at = %s, closed_by_review = %s,"
                " due_at = %s, extensions = %s, extended_at = %s WHERE complaint_id = %s",
                [(r.status, r.closed_at, r.closed_by, r.due_at, r.extensions, r.extended_at,
                  r.complaint_id) for r in dirty])


async def apply_complaint_filed_batch(
    conn: Any, items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of complaint.filed events; one outcome per event."""
    outcomes, todo = await claim_batch(conn, "complaint-filed", items)
    if not todo:
        return outcomes
    datas: list[ComplaintFiled] = [i.event.data for _, i in todo]
    case_ids = {d.case_id for d in datas if d.case_id}
    await lock_subjects(conn, [f"complaint:{d.complaint_id}" for d in datas]
                        + [f"case:{c}" for c in case_ids])
    known = await load_complaints(conn, {d.complaint_id for d in datas})
    open_refs = await _open_complaints(conn, case_ids)
    cities = await _case_cities(conn, case_ids)
    fx = Effects()
    rows = []
    for n, item in todo:
        d: ComplaintFiled = item.event.data
        if d.complaint_id in known:
            outcomes[n] = "duplicate"
            fx.timeline.append(timeline_row(item, "duplicate", "complaint_id already filed"))
            continue
        ref = ComplaintRef(d.complaint_id, d.case_id, d.category.value, d.filed_at)
        merged_into = should_merge(ref, open_refs)
        policy = ctx.policy.for_case(d.insurer, "")  # per insurer: a complaint has no line
        due = complaint_due_at(d.filed_at, policy)
        status = "merged" if merged_into else "open"
        known[d.complaint_id] = ComplaintRow(d.complaint_id, d.case_id, d.category.value,
                                             status, merged_into, d.filed_at, due_at=due,
                                             insurer=d.insurer,
                                             against_adjuster_id=d.against_adjuster_id)
        if merged_into is None:
            open_refs.append(ref)
            window = due - d.filed_at
            fx.clock_ops.append(ClockOp(ClockOpKind.START, "complaint", d.complaint_id,
                                        Clock.COMPLAINT.value, d.filed_at, window,
                                        warn_offset(window, policy.sla.warn_fraction), d.insurer))
        rows.append((d.complaint_id, d.case_id, d.insurer, d.channel.value, d.category.value,
                     d.against_adjuster_id, complaint_owner(d.against_adjuster_id), status,
                     merged_into, cities.get(d.case_id or ""), d.filed_at, due, item.source,
                     item.event_id, data_hash(d), d.received_by))
        fx.vault("complaint", d.complaint_id, item.source, item.event_id, {
            "description": d.description, "complainant_name": d.complainant.name,
            "complainant_phone": d.complainant.phone})
        detail = f"merged into {merged_into}" if merged_into else "registered"
        fx.timeline.append(timeline_row(item, "applied", detail))
    await _insert(conn, rows)
    for facts in await take_parked(conn, "complaint", {r[0] for r in rows}):
        fx.reviews[facts.review_id] = facts.row(apply_complaint_review(facts, known, fx))
        fx.unparked.append(ParkedKey(facts.source, facts.event_id))
    await save_complaints(conn, known)
    await flush(conn, fx)
    requests = await late_complaint_requests(
        conn, [(r[1], r[10]) for r in rows if r[1] is not None], ctx)
    await send_callbacks(conn, ctx, requests + complaint_requests(closed_now(known), ctx))
    return outcomes


async def _open_complaints(conn: Any, case_ids: set[str]) -> list[ComplaintRef]:
    if not case_ids:
        return []
    cur = await conn.execute(
        "SELECT complaint_id, case_id, category, filed_at FROM complaints"
        " WHERE case_id = ANY(%b) AND status = 'open'", (list(case_ids),))
    return [ComplaintRef(*r) for r in await cur.fetchall()]


async def _case_cities(conn: Any, case_ids: set[str]) -> dict[str, str]:
    if not case_ids:
        return {}
    cur = await conn.execute(
        "SELECT case_id, city FROM cases WHERE case_id = ANY(%b)", (list(case_ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def _insert(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO complaints (complaint_id, case_id, insurer, channel, category,"
                " against_adjuster_id, owner, status, merged_into, city, filed_at, due_at,"
                " source, event_id, data_hash, received_by) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
