"""The row kinds every batch may write (typed rows, see :mod:`workers.store.rows`).

Each class is one table's insert shape; ``flush`` writes each kind with one statement.
v2 row kinds live next to their handlers (or here when several packages write them) and
are added to a batch with :meth:`workers.store.effects.Effects.add`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from workers.store.rows import Row, col


@dataclass(frozen=True)
class TimelineRow(Row):
    """One row of ``rm_case_timeline`` (no PII: the detail is our own wording)."""

    __table__: ClassVar[str] = "case_timeline"
    __conflict__: ClassVar[str] = ""
    __copy__: ClassVar[bool] = True  # one per event: the largest insert of every batch
    case_id: str | None
    complaint_id: str | None
    event_type: str
    event_time: datetime
    source: str
    event_id: str
    outcome: str
    detail: str | None = None


@dataclass(frozen=True)
class DataQualityRow(Row):
    """A data-quality issue (录入差错登记); the same issue for the same event is kept once."""

    __table__: ClassVar[str] = "data_quality"
    kind: str
    subject_type: str
    subject_id: str
    event_type: str | None
    source: str | None
    event_id: str | None
    detail: str
    data_time: datetime | None


@dataclass(frozen=True)
class PiiRow(Row):
    """Raw personal data, in the one protected table (SPEC §8)."""

    __table__: ClassVar[str] = "pii_vault"
    subject_type: str
    subject_id: str
    source: str
    event_id: str
    fields: str = col("jsonb")


@dataclass(frozen=True)
class ReviewRow(Row):
    """A ``review.completed`` as recorded; a replay of a parked one updates its outcome."""

    __table__: ClassVar[str] = "reviews"
    __conflict__: ClassVar[str] = "ON CONFLICT (review_id) DO UPDATE SET outcome = EXCLUDED.outcome"
    review_id: str
    stage: str
    case_id: str | None
    complaint_id: str | None
    dispatch_id: str | None
    reviewer_id: str
    decision: str
    amount: Decimal | None
    disputed: bool
    missing_documents: int = col("int4")
    completed_at: datetime = col("timestamptz")
    outcome: str = col("text")
    source: str = col("text")
    event_id: str = col("text")
    data_hash: str = col("text")
    #: JSON text of the list (sent as text: unnest would flatten a 2-D array)
    missing_documents_list: str | None = col("text[]<-json", default=None)


@dataclass(frozen=True)
class PayoutRow(Row):
    """A ``payout.approved`` decision (at most one per case)."""

    __table__: ClassVar[str] = "payouts"
    payout_id: str
    case_id: str
    review_id: str
    insurer: str
    report_no: str
    amount: Decimal
    approval_path: str
    approved_at: datetime
    pay_by: datetime
    cat_code: str | None
    event_id: str


@dataclass(frozen=True)
class ParkedRow(Row):
    """An event waiting for its subject (SPEC §4.1)."""

    __table__: ClassVar[str] = "parked_events"
    source: str
    event_id: str
    subject_type: str
    subject_id: str
    data_time: datetime
    payload: str = col("jsonb")


@dataclass(frozen=True)
class ParkedKey(Row):
    """A parked event that was applied (deleted by ``flush``)."""

    __table__: ClassVar[str] = "parked_events"
    source: str
    event_id: str


@dataclass(frozen=True)
class CaseUpdate(Row):
    """The columns a batch changes on ``cases`` (written by key ``case_id``)."""

    __table__: ClassVar[str] = "cases"
    case_id: str
    status: str
    stage: str | None
    disputed: bool
    cat_mode: bool
    approved_amount: Decimal | None
    closed_at: datetime | None
    updated_at: datetime | None
    docs_stage: str | None
    decision: str | None
    decided_at: datetime | None
    withdrawn_at: datetime | None
