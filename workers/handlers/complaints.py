"""``complaint-filed`` and complaint-stage reviews (SPEC §4.7): registry, owner, merge,
15-day clock, extensions (v2), closing review (which also closes the complaints merged
into the closed one). Complaints never wait for a case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row

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
from workers.store.rows import Row, col, insert_rows, update_rows
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


async def load_complaints(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, ComplaintRow]:
    """Known complaints among ``ids``, the complaints they were merged into, and every
    complaint merged into those (a closing review closes them too)."""
    if not ids:
        return {}
    cur = conn.cursor(row_factory=class_row(ComplaintRow))
    await cur.execute(
        "WITH roots AS (SELECT coalesce(merged_into, complaint_id) AS root FROM complaints"
        "   WHERE complaint_id = ANY(%b))"
        f" SELECT {_COMPLAINT_COLS} FROM complaints WHERE complaint_id = ANY(%b)"
        "   OR complaint_id IN (SELECT root FROM roots)"
        "   OR merged_into IN (SELECT root FROM roots)",
        (list(ids), list(ids)))
    return {r.complaint_id: r for r in await cur.fetchall()}


async def complaint_case_locks(conn: AsyncConnection[Any], ids: set[str]) -> list[str]:
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


@dataclass(frozen=True)
class ComplaintUpdate(Row):
    """What a review changes on a complaint (closing, extension)."""

    __table__: ClassVar[str] = "complaints"
    complaint_id: str
    status: str
    closed_at: datetime | None
    closed_by_review: str | None
    due_at: datetime | None
    extensions: int = col("int4")
    extended_at: datetime | None = col("timestamptz")


@dataclass(frozen=True)
class ComplaintInsert(Row):
    """A new ``complaints`` row."""

    __table__: ClassVar[str] = "complaints"
    __conflict__: ClassVar[str] = ""
    complaint_id: str
    case_id: str | None
    insurer: str
    channel: str
    category: str
    against_adjuster_id: str | None
    owner: str
    status: str
    merged_into: str | None
    city: str | None
    filed_at: datetime
    due_at: datetime
    source: str
    event_id: str
    data_hash: str
    received_by: str | None


async def save_complaints(conn: AsyncConnection[Any], rows: dict[str, ComplaintRow]) -> None:
    """Write the complaints a batch changed (one statement)."""
    await update_rows(conn, [
        ComplaintUpdate(r.complaint_id, r.status, r.closed_at, r.closed_by, r.due_at,
                        r.extensions, r.extended_at) for r in rows.values() if r.dirty],
        ["complaint_id"])


@dataclass
class _Filed:
    """What a complaint.filed batch loaded (under its locks) and decided."""

    known: dict[str, ComplaintRow]
    open_refs: list[ComplaintRef]
    cities: dict[str, str]
    fx: Effects = field(default_factory=Effects)
    inserts: list[ComplaintInsert] = field(default_factory=list)


async def apply_complaint_filed_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of complaint.filed events (load → decide → write once)."""
    outcomes, todo = await claim_batch(conn, "complaint-filed", items)
    if not todo:
        return outcomes
    datas: list[ComplaintFiled] = [i.data(ComplaintFiled) for _, i in todo]
    case_ids = {d.case_id for d in datas if d.case_id}
    await lock_subjects(conn, [f"complaint:{d.complaint_id}" for d in datas]
                        + [f"case:{c}" for c in case_ids])
    b = _Filed(await load_complaints(conn, {d.complaint_id for d in datas}),
               await _open_complaints(conn, case_ids), await _case_cities(conn, case_ids))
    for n, item in todo:
        outcomes[n] = _decide_filed(item, b, ctx)
    await insert_rows(conn, b.inserts)
    for facts in await take_parked(conn, "complaint", {r.complaint_id for r in b.inserts}):
        b.fx.reviews[facts.review_id] = facts.row(apply_complaint_review(facts, b.known, b.fx))
        b.fx.unparked.append(ParkedKey(facts.source, facts.event_id))
    await save_complaints(conn, b.known)
    await flush(conn, b.fx)
    requests = await late_complaint_requests(
        conn, [(r.case_id, r.filed_at) for r in b.inserts if r.case_id is not None], ctx)
    await send_callbacks(conn, ctx, requests + complaint_requests(closed_now(b.known), ctx))
    return outcomes


def _decide_filed(item: Incoming, b: _Filed, ctx: HandlerContext) -> str:
    """Register (or merge) one complaint; its effects go to ``b`` (no I/O)."""
    d: ComplaintFiled = item.data(ComplaintFiled)
    if d.complaint_id in b.known:
        b.fx.timeline.append(timeline_row(item, "duplicate", "complaint_id already filed"))
        return "duplicate"
    ref = ComplaintRef(d.complaint_id, d.case_id, d.category.value, d.filed_at)
    merged_into = should_merge(ref, b.open_refs)
    policy = ctx.policy.for_case(d.insurer, "")  # per insurer: a complaint has no line
    due = complaint_due_at(d.filed_at, policy)
    status = "merged" if merged_into else "open"
    b.known[d.complaint_id] = ComplaintRow(d.complaint_id, d.case_id, d.category.value,
                                           status, merged_into, d.filed_at, due_at=due,
                                           insurer=d.insurer,
                                           against_adjuster_id=d.against_adjuster_id)
    if merged_into is None:
        b.open_refs.append(ref)
        window = due - d.filed_at
        b.fx.clock_ops.append(ClockOp(ClockOpKind.START, "complaint", d.complaint_id,
                                      Clock.COMPLAINT.value, d.filed_at, window,
                                      warn_offset(window, policy.sla.warn_fraction), d.insurer))
    b.inserts.append(ComplaintInsert(
        d.complaint_id, d.case_id, d.insurer, d.channel.value, d.category.value,
        d.against_adjuster_id, complaint_owner(d.against_adjuster_id), status, merged_into,
        b.cities.get(d.case_id or ""), d.filed_at, due, item.source, item.event_id,
        data_hash(d), d.received_by))
    b.fx.vault("complaint", d.complaint_id, item.source, item.event_id, {
        "description": d.description, "complainant_name": d.complainant.name,
        "complainant_phone": d.complainant.phone})
    b.fx.timeline.append(timeline_row(item, "applied", f"merged into {merged_into}"
                                      if merged_into else "registered"))
    return "applied"


async def _open_complaints(conn: AsyncConnection[Any], case_ids: set[str]) -> list[ComplaintRef]:
    if not case_ids:
        return []
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT complaint_id, case_id, category, filed_at FROM complaints"
        " WHERE case_id = ANY(%b) AND status = 'open'", (list(case_ids),))
    return [ComplaintRef(r["complaint_id"], r["case_id"], r["category"], r["filed_at"])
            for r in await cur.fetchall()]


async def _case_cities(conn: AsyncConnection[Any], case_ids: set[str]) -> dict[str, str]:
    if not case_ids:
        return {}
    cur = await conn.execute(
        "SELECT case_id, city FROM cases WHERE case_id = ANY(%b)", (list(case_ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}
