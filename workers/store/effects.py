"""Effects of a batch, collected in memory and written set-based in one go.

Handlers decide event by event (rules are pure), append what should change here, and
call :func:`flush` once: a few statements per batch instead of several per event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel

from infra.outbox import OutboxItem, enqueue
from infra.pii_fill import PiiRef
from schemas import build_output
from workers.rules.case_lifecycle import CaseState, CaseStatus, Stage
from workers.rules.four_eyes import PriorDecision
from workers.rules.notices import Notice
from workers.rules.sla import ClockOp
from workers.store.clocks import apply_clock_ops
from workers.store.notices import write_notices
from workers.store.rows import Row, insert_rows, unnest, update_rows
from workers.store.tables import (
    CaseUpdate,
    DataQualityRow,
    ParkedKey,
    ParkedRow,
    PayoutRow,
    PiiRow,
    ReviewRow,
    TimelineRow,
)

R = TypeVar("R", bound=Row)
__all__ = ["CaseRow", "Effects", "TimelineRow", "data_hash", "flush", "legacy_data_hash",
           "load_cases", "same_data"]


#: Prefix of the current ``data_hash`` format; a stored hash without it (32 hex digits,
#: no colon) is the legacy format of rows written before issue 15.
DATA_HASH_V2 = "h2:"


def data_hash(data: BaseModel) -> str:
    """Stable digest of an event's data, to tell a same-id resend from a conflicting one.

    Format 2: ``h2:`` + 29 hex digits of SHA-256 over pydantic's own JSON of the model
    (declaration field order, Rust serializer): a third of the legacy digest's CPU, which
    rebuilt a Python dict and sorted it through ``json.dumps``. Both formats render
    every field with the same serializers and the input models hold no dicts, so two data
    have equal format-2 digests exactly when their legacy digests are equal. Compare a
    stored digest with :func:`same_data`, never with ``==``: rows written before keep
    the legacy format."""
    return DATA_HASH_V2 + hashlib.sha256(
        data.__pydantic_serializer__.to_json(data)).hexdigest()[:29]


def legacy_data_hash(data: BaseModel) -> str:
    """The format-1 digest (before issue 15), recomputed to compare with old rows."""
    raw = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def same_data(stored: str, digest: str, data: BaseModel | None = None) -> bool:
    """Does ``stored`` (a recorded digest) describe the same data as ``digest``, the
    :func:`data_hash` of ``data``?

    Same format: plain equality. A legacy ``stored`` against a new event: its legacy
    digest is recomputed from ``data`` (a resend of an event recorded before the upgrade
    stays a plain duplicate). Without ``data`` (facts rebuilt from a parked payload) two
    formats cannot be compared: not reported as a conflict (spec silent; the upgrade
    window only)."""
    if stored.startswith(DATA_HASH_V2) == digest.startswith(DATA_HASH_V2):
        return stored == digest
    if data is None or stored.startswith(DATA_HASH_V2):
        return True
    return stored == legacy_data_hash(data)


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
    #: v2: the deciding review's decision (approved/rejected) and its completed_at
    decision: str | None = None
    decided_at: datetime | None = None
    withdrawn_at: datetime | None = None


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
    #: was any catastrophe declared? read once per batch (``review_apply._declared_cover``)
    any_catastrophe: bool | None = None
    #: customer notices decided (SPEC §4.12), cases whose waiting notices may go out now,
    #: and the processing time for their envelopes (see :meth:`notice`)
    notices: list[Notice] = field(default_factory=list)
    notice_cases: set[str] = field(default_factory=set)
    notice_time: datetime | None = None

    def notice(self, n: Notice, now: datetime | None = None) -> None:
        """Request a customer notice (recorded once per id; sent when its case is known).
        ``now``: the envelope time (the handler's clock; the wall clock when not given)."""
        self.notices.append(n)
        self.notice_time = now or self.notice_time

    def release_notices(self, case_ids: set[str], now: datetime) -> None:
        """Cases just created: their waiting notices may go out."""
        self.notice_cases |= case_ids
        self.notice_time = now

    def output(self, type_: str, topic: str, key: str, data: BaseModel, event_id: str,
               now: datetime, pii: PiiRef = ()) -> None:
        """Queue an output event for the outbox. ``pii``: fields the relay fills from the
        vault at publish time (their values in ``data`` are placeholders, never stored)."""
        value = build_output(type_, data, key, event_id, now)
        self.outbox.append(OutboxItem(topic, key, value, event_id, pii))

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


async def load_cases(conn: AsyncConnection[Any], case_ids: set[str]) -> dict[str, CaseRow]:
    """The cases among ``case_ids`` that exist (callers hold their subject locks)."""
    if not case_ids:
        return {}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT case_id, insurer, line, province, city, report_no, cat_code,"
        " insurer_cat_code IS NOT NULL AS insurer_coded, status, stage,"
        " injuries, disputed, cat_mode, approved_amount, closed_at, updated_at,"
        " decision, decided_at, withdrawn_at,"
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
    for r in await cur.fetchall():
        # cat_code is the effective one (insurer's, else declared, SPEC §4.5); catastrophe
        # mode counts only an insurer-given one as "has a cat_code" (§4.3)
        state = CaseState(
            status=CaseStatus(r["status"]), stage=Stage(r["stage"]) if r["stage"] else None,
            injuries=r["injuries"], disputed=r["disputed"], has_cat_code=r["insurer_coded"],
            cat_mode=r["cat_mode"] if r["initial_done"] else None,
        )
        out[r["case_id"]] = CaseRow(
            r["case_id"], r["insurer"], r["line"], r["province"], r["city"], r["report_no"],
            r["cat_code"], state, r["approved_amount"], r["closed_at"], r["updated_at"],
            deciders=[PriorDecision(*d.split(":", 2)) for d in r["deciders"] or ()],
            decision=r["decision"], decided_at=r["decided_at"], withdrawn_at=r["withdrawn_at"])
    return out


async def flush(conn: AsyncConnection[Any], fx: Effects) -> None:
    """Write every collected effect (order matters: rows before the views that join them).

    Each kind of row is written with ONE ``unnest`` statement with binary parameters
    (derived from its row class, :mod:`workers.store.rows`).
    """
    await insert_rows(conn, _typed(PiiRow, fx.pii))
    await insert_rows(conn, _typed(ReviewRow, list(fx.reviews.values())))
    await update_rows(conn, [_case_update(c) for c in fx.cases.values() if c.dirty], ["case_id"])
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
    if fx.notices or fx.notice_cases:
        fx.outbox += await write_notices(conn, fx.notices, fx.notice_cases,
                                         fx.notice_time or datetime.now(UTC))
    await enqueue(conn, fx.outbox)
    await insert_rows(conn, _typed(TimelineRow, fx.timeline))
    await insert_rows(conn, _typed(DataQualityRow, fx.data_quality))


def _case_update(c: CaseRow) -> CaseUpdate:
    stage = c.state.stage.value if c.state.stage else None
    pending = c.state.status is CaseStatus.DOCUMENTS_PENDING
    return CaseUpdate(c.case_id, c.state.status.value, stage, c.state.disputed,
                      bool(c.state.cat_mode), c.approved_amount, c.closed_at, c.updated_at,
                      stage if pending else None, c.decision, c.decided_at, c.withdrawn_at)


def _typed(cls: type[R], items: Sequence[Any]) -> list[R]:
    """``items`` as ``cls`` rows; a positional tuple (the pre-typed-rows API, still used by
    handlers written before it) is converted field by field."""
    return [i if isinstance(i, cls) else cls(*i) for i in items]
