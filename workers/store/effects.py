"""Effects of a batch, collected in memory and written set-based in one go.

Handlers decide event by event (rules are pure), append what should change here, and
call :func:`flush` once: a few statements per batch instead of several per event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from infra.outbox import OutboxItem, enqueue
from schemas import build_output
from workers.rules.case_lifecycle import CaseState, CaseStatus, Stage
from workers.rules.four_eyes import PriorDecision
from workers.rules.sla import ClockOp
from workers.store.clocks import apply_clock_ops
from workers.store.rows import Row, insert_rows, unnest
from workers.store.tables import (
    DataQualityRow,
    ParkedKey,
    ParkedRow,
    PayoutRow,
    PiiRow,
    ReviewRow,
    TimelineRow,
)

R = TypeVar("R", bound=Row)
__all__ = ["CaseRow", "Effects", "TimelineRow", "data_hash", "flush", "load_cases"]


def data_hash(data: BaseModel) -> str:
    """Stable digest of an event's data, to tell a same-id resend from a conflicting one."""
    raw = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


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
    #: applied initial/second approved-or-escalated reviews (the four-eyes rule, §4.3)
    deciders: list[PriorDecision] = field(default_factory=list)


@dataclass
class Effects:
    """Everything one batch changes besides its inbox rows."""

    timeline: list[TimelineRow] = field(default_factory=list)
    data_quality: list[DataQualityRow] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)
    clock_ops: list[ClockOp] = field(default_factory=list)
    cases: dict[str, CaseRow] = field(default_factory=dict)
    payouts: list[PayoutRow] = field(default_factory=list)
    reviews: dict[str, ReviewRow] = field(default_factory=dict)
    parked: list[ParkedRow] = field(default_factory=list)
    unparked: list[ParkedKey] = field(default_factory=list)
    pii: list[PiiRow] = field(default_factory=list)
    #: any other typed rows (v2 row kinds), written per kind in the order first added
    rows: dict[type[Row], list[Row]] = field(default_factory=dict)
    freed_provinces: set[str] = field(default_factory=set)
    #: surge alerts (province, city, opened_at, resolved_at), read once per batch on demand
    surge_alerts: list[tuple[Any, ...]] | None = None

    def output(self, type_: str, topic: str, key: str, data: BaseModel, event_id: str,
               now: datetime) -> None:
        """Queue an output event for the outbox."""
        value = build_output(type_, data, key, event_id, now)
        self.outbox.append(OutboxItem(topic, key, value, event_id))

    def dq(self, kind: str, subject_type: str, subject_id: str, detail: str,
           event_type: str | None = None, source: str | None = None,
           event_id: str | None = None, data_time: datetime | None = None) -> None:
        """Record a data-quality issue (录入差错登记)."""
        self.data_quality.append(DataQualityRow(kind, subject_type, subject_id, event_type,
                                                source, event_id, detail, data_time))

    def vault(self, subject_type: str, subject_id: str, source: str, event_id: str,
              fields: dict[str, Any]) -> None:
        """Keep raw personal data in the one protected table."""
        present = {k: v for k, v in fields.items() if v not in (None, "")}
        if present:
            self.pii.append(PiiRow(subject_type, subject_id, source, event_id,
                                   json.dumps(present, ensure_ascii=False)))

    def add(self, *rows: Row) -> None:
        """Queue typed rows of any kind (one INSERT per kind at :func:`flush`)."""
        for row in rows:
            self.rows.setdefault(type(row), []).append(row)


async def load_cases(conn: Any, case_ids: set[str]) -> dict[str, CaseRow]:
    """The cases among ``case_ids`` that exist (callers hold their subject locks)."""
    if not case_ids:
        return {}
    cur = await conn.execute(
        "SELECT case_id, insurer, line, province, city, report_no, cat_code,"
        " insurer_cat_code IS NOT NULL, status, stage,"
        " injuries, disputed, cat_mode, approved_amount, closed_at, updated_at,"
        " (SELECT bool_or(true) FROM reviews r WHERE r.case_id = c.case_id"
        "   AND r.stage = 'initial' AND r.outcome = 'applied') AS initial_done,"
        " (SELECT array_agg(r.stage || ':' || r.decision || ':' || r.reviewer_id)"
        "   FROM reviews r WHERE r.case_id = c.case_id AND r.outcome = 'applied'"
        "   AND r.stage IN ('initial', 'second') AND r.decision IN ('approved', 'escalated'))"
        "   AS deciders"
        " FROM cases c WHERE case_id = ANY(%b)",
        (list(case_ids),),
    )
    out = {}
    for row in await cur.fetchall():
        (cid, insurer, line, province, city, report_no, cat_code, insurer_coded, status, stage,
         injuries, disputed, cat_mode, approved, closed_at, updated_at, initial_done,
         deciders) = row
        # cat_code is the effective one (insurer's, else declared, SPEC §4.5); catastrophe
        # mode counts only an insurer-given one as "has a cat_code" (§4.3)
        state = CaseState(
            status=CaseStatus(status), stage=Stage(stage) if stage else None,
            injuries=injuries, disputed=disputed, has_cat_code=insurer_coded,
            cat_mode=cat_mode if initial_done else None,
        )
        out[cid] = CaseRow(cid, insurer, line, province, city, report_no, cat_code, state,
                           approved, closed_at, updated_at,
                           deciders=[PriorDecision(*d.split(":", 2)) for d in deciders or ()])
    return out


async def flush(conn: Any, fx: Effects) -> None:
    """Write every collected effect (order matters: rows before the views that join them).

    Each kind of row is written with ONE ``unnest`` statement with binary parameters
    (derived from its row class, :mod:`workers.store.rows`).
    """
    await insert_rows(conn, _typed(PiiRow, fx.pii))
    await insert_rows(conn, _typed(ReviewRow, list(fx.reviews.values())))
    await _update_cases(conn, [c for c in fx.cases.values() if c.dirty])
    if fx.clock_ops:
        await apply_clock_ops(conn, fx.clock_ops)
    await insert_rows(conn, _typed(PayoutRow, fx.payouts))
    await insert_rows(conn, _typed(ParkedRow, fx.parked))
    if fx.unparked:
        keys = _typed(ParkedKey, fx.unparked)
        await conn.execute(f"DELETE FROM parked_events p USING {unnest(ParkedKey)}"
                           " WHERE p.source = u.source AND p.event_id = u.event_id",
                           [[k.source for k in keys], [k.event_id for k in keys]])
    for rows in fx.rows.values():
        await insert_rows(conn, rows)
    await enqueue(conn, fx.outbox)
    await insert_rows(conn, _typed(TimelineRow, fx.timeline))
    await insert_rows(conn, _typed(DataQualityRow, fx.data_quality))


async def _update_cases(conn: Any, dirty: Sequence[CaseRow]) -> None:
    if not dirty:
        return
    await conn.execute(
        "UPDATE cases c SET status = u.status, stage = u.stage, disputed = u.disputed,"
        " cat_mode = u.cat_mode, approved_amount = u.approved_amount,"
        " closed_at = u.closed_at, updated_at = u.updated_at, docs_stage = u.docs_stage"
        " FROM unnest(%b::text[], %b::text[], %b::bool[], %b::bool[], %b::numeric[],"
        " %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[]) AS u(status, stage,"
        " disputed, cat_mode, approved_amount, closed_at, updated_at, docs_stage, case_id)"
        " WHERE c.case_id = u.case_id",
        [[c.state.status.value for c in dirty],
         [c.state.stage.value if c.state.stage else None for c in dirty],
         [c.state.disputed for c in dirty], [bool(c.state.cat_mode) for c in dirty],
         [c.approved_amount for c in dirty], [c.closed_at for c in dirty],
         [c.updated_at for c in dirty],
         [c.state.stage.value if c.state.status is CaseStatus.DOCUMENTS_PENDING and c.state.stage
          else None for c in dirty],
         [c.case_id for c in dirty]])


def _typed(cls: type[R], items: Sequence[Any]) -> list[R]:
    """``items`` as ``cls`` rows; a positional tuple (the pre-typed-rows API, still used by
    handlers written before it) is converted field by field."""
    return [i if isinstance(i, cls) else cls(*i) for i in items]
