"""Effects of a batch, collected in memory and written set-based in one go.

Handlers decide event by event (rules are pure), append what should change here, and
call :func:`flush` once: a few statements per batch instead of several per event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from infra.outbox import OutboxItem, enqueue
from pydantic import BaseModel
from schemas import build_output

from workers.handlers.common import TimelineRow, record_data_quality, write_timeline
from workers.rules.case_lifecycle import CaseState, CaseStatus, Stage


def data_hash(data: BaseModel) -> str:
    """Stable digest of an event's data, to tell a same-id resend from a conflicting one."""
    raw = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClockOp:
    """One SLA clock change, applied by the ``sla_clock_op`` SQL function."""

    op: str  # start, pause, resume, stop
    subject_type: str
    subject_id: str
    clock: str
    at: datetime
    window: timedelta = timedelta(0)
    warn: timedelta = timedelta(0)
    insurer: str | None = None
    line: str | None = None
    province: str | None = None


@dataclass
class CaseRow:
    """The mutable part of a case plus what outputs need; ``dirty`` when it must be written."""

    case_id: str
    insurer: str
    line: str
    province: str
    city: str
    report_no: str
    cat_code: str | None
    state: CaseState
    approved_amount: Decimal | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    dirty: bool = False


@dataclass
class Effects:
    """Everything one batch changes besides its inbox rows."""

    timeline: list[TimelineRow] = field(default_factory=list)
    data_quality: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)
    clock_ops: list[ClockOp] = field(default_factory=list)
    cases: dict[str, CaseRow] = field(default_factory=dict)
    payouts: list[tuple[Any, ...]] = field(default_factory=list)
    reviews: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    parked: list[tuple[Any, ...]] = field(default_factory=list)
    unparked: list[tuple[str, str]] = field(default_factory=list)
    pii: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    freed_provinces: set[str] = field(default_factory=set)

    def output(self, type_: str, topic: str, key: str, data: BaseModel, event_id: str,
               now: datetime) -> None:
        """Queue an output event for the outbox."""
        value = build_output(type_, data, key, event_id, now)
        self.outbox.append(OutboxItem(topic, key, value, event_id))

    def dq(self, kind: str, subject_type: str, subject_id: str, detail: str,
           event_type: str | None = None, source: str | None = None,
           event_id: str | None = None, data_time: datetime | None = None) -> None:
        """Record a data-quality issue (录入差错登记)."""
        self.data_quality.append(
            (kind, subject_type, subject_id, event_type, source, event_id, detail, data_time)
        )

    def vault(self, subject_type: str, subject_id: str, source: str, event_id: str,
              fields: dict[str, Any]) -> None:
        """Keep raw personal data in the one protected table."""
        present = {k: v for k, v in fields.items() if v not in (None, "")}
        if present:
            self.pii.append((subject_type, subject_id, source, event_id,
                             json.dumps(present, ensure_ascii=False)))


async def load_cases(conn: Any, case_ids: set[str]) -> dict[str, CaseRow]:
    """The cases among ``case_ids`` that exist (callers hold their subject locks)."""
    if not case_ids:
        return {}
    cur = await conn.execute(
        "SELECT case_id, insurer, line, province, city, report_no, cat_code, status, stage,"
        " injuries, disputed, cat_mode, approved_amount, closed_at, updated_at,"
        " (SELECT bool_or(true) FROM reviews r WHERE r.case_id = c.case_id"
        "   AND r.stage = 'initial' AND r.outcome = 'applied') AS initial_done"
        " FROM cases c WHERE case_id = ANY(%s)",
        (list(case_ids),),
    )
    out = {}
    for row in await cur.fetchall():
        (cid, insurer, line, province, city, report_no, cat_code, status, stage, injuries,
         disputed, cat_mode, approved, closed_at, updated_at, initial_done) = row
        state = CaseState(
            status=CaseStatus(status), stage=Stage(stage) if stage else None,
            injuries=injuries, disputed=disputed, has_cat_code=cat_code is not None,
            cat_mode=cat_mode if initial_done else None,
        )
        out[cid] = CaseRow(cid, insurer, line, province, city, report_no, cat_code, state,
                           approved, closed_at, updated_at)
    return out


async def flush(conn: Any, fx: Effects) -> None:
    """Write every collected effect (order matters: rows before the views that join them)."""
    async with conn.cursor() as cur:
        if fx.pii:
            await cur.executemany(
                "INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields)"
                " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING", fx.pii)
        if fx.reviews:
            await cur.executemany(
                "INSERT INTO reviews (review_id, stage, case_id, complaint_id, dispatch_id,"
                " reviewer_id, decision, amount, disputed, missing_documents, completed_at,"
                " outcome, source, event_id, data_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (review_id) DO UPDATE"
                " SET outcome = EXCLUDED.outcome", list(fx.reviews.values()))
        dirty = [c for c in fx.cases.values() if c.dirty]
        if dirty:
            await cur.executemany(
                "UPDATE cases SET status = %s, stage = %s, disputed = %s, cat_mode = %s,"
                " approved_amount = %s, closed_at = %s, updated_at = %s,"
                " docs_stage = %s WHERE case_id = %s",
                [(c.state.status.value, c.state.stage.value if c.state.stage else None,
                  c.state.disputed, bool(c.state.cat_mode), c.approved_amount, c.closed_at,
                  c.updated_at,
                  c.state.stage.value if c.state.status is CaseStatus.DOCUMENTS_PENDING
                  and c.state.stage else None, c.case_id) for c in dirty])
        if fx.clock_ops:
            await cur.executemany(
                "SELECT sla_clock_op(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(o.op, o.subject_type, o.subject_id, o.clock, o.at, o.window.total_seconds(),
                  o.warn.total_seconds(), o.insurer, o.line, o.province)
                 for o in fx.clock_ops])
        if fx.payouts:
            await cur.executemany(
                "INSERT INTO payouts (payout_id, case_id, review_id, insurer, report_no, amount,"
                " approval_path, approved_at, pay_by, cat_code, event_id) VALUES (%s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", fx.payouts)
        if fx.parked:
            await cur.executemany(
                "INSERT INTO parked_events (source, event_id, subject_type, subject_id,"
                " data_time, payload) VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
                " ON CONFLICT DO NOTHING", fx.parked)
        if fx.unparked:
            await cur.executemany(
                "DELETE FROM parked_events WHERE source = %s AND event_id = %s", fx.unparked)
    await enqueue(conn, fx.outbox)
    await write_timeline(conn, fx.timeline)
    await record_data_quality(conn, fx.data_quality)
