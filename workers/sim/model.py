"""Value types of the simulator: planned steps, rendered events, runs and the expected tally."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from workers.sim.people import stamp

#: China Standard Time: every simulated timestamp carries +08:00.
CST = timezone(timedelta(hours=8))

#: CloudEvents ``type`` per input topic base name (SPEC §1).
EVENT_TYPES: dict[str, str] = {
    "case-reported": "case.reported",
    "dispatch-requested": "dispatch.requested",
    "review-completed": "review.completed",
    "complaint-filed": "complaint.filed",
    "callback-completed": "callback.completed",
    "payment-settled": "payment.settled",
    "case-withdrawn": "case.withdrawn",
}


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One Kafka record as an insurer system would publish it."""

    topic: str  # base name, e.g. "case-reported" (no deployment prefix)
    key: str  # case_id, else complaint_id
    value: bytes  # UTF-8 CloudEvents JSON
    data_time: datetime  # the event's own data timestamp (SPEC §2)
    event_id: str  # CloudEvents id
    duplicate: bool = False  # a re-send of an earlier record, byte for byte


@dataclass(slots=True)
class Step:
    """A planned event of a case or complaint, due ``offset`` after the case was reported.

    ``data`` lacks its data timestamp (``time_field``), filled in when rendered:
    the batch generator uses reported_at + offset, live mode the wall clock.
    """

    offset: timedelta
    topic: str
    key: str
    source: str
    data: dict[str, Any]
    time_field: str
    event_id: str
    lag: timedelta = timedelta(0)  # envelope `time` minus data time
    lead: timedelta | None = None  # case.reported: incident.occurred_at = at - lead

    def render(self, at: datetime) -> SimEvent:
        """The CloudEvents record with data time ``at`` (must be aware)."""
        at = at.replace(microsecond=at.microsecond - at.microsecond % 1000)
        data = dict(self.data)
        data[self.time_field] = stamp(at)
        if self.lead is not None:
            data["incident"] = {**data["incident"], "occurred_at": stamp(at - self.lead)}
        envelope = {
            "specversion": "1.0",
            "id": self.event_id,
            "source": self.source,
            "type": EVENT_TYPES[self.topic],
            "time": stamp(at + self.lag),
            "datacontenttype": "application/json",
            "subject": self.key,
            "data": data,
        }
        value = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return SimEvent(self.topic, self.key, value, at, self.event_id)


@dataclass(slots=True)
class CasePlan:
    """A case's planned events and the simulator's model of its outcome."""

    case_id: str
    insurer: str
    line: str
    province: str
    city: str
    cat_code: str | None
    reported_at: datetime
    steps: list[Step] = field(default_factory=list)
    status: str = "reported"  # expected final rm_cases.status
    approval_path: str | None = None
    payout: Decimal | None = None
    payout_review_id: str | None = None
    cat_delta: bool = False  # outcome would differ if a surge put the case in cat mode
    initial_at: datetime | None = None  # first initial review: fixes catastrophe mode


def _stage_counter() -> dict[str, Counter[str]]:
    return {}


@dataclass(slots=True)
class Expected:
    """What a run published, tallied from the plans (for comparison with read models).

    ``status`` is each case's final status when events are applied as planned
    (no surge-driven catastrophe mode). ``surge_sensitive`` lists cases whose
    outcome would differ if a surge alert for their city were open at their
    initial review; compare those loosely.
    """

    cases: int = 0
    dispatches: int = 0
    survey_reviews: int = 0
    reviews: dict[str, Counter[str]] = field(default_factory=_stage_counter)
    complaints: int = 0
    complaints_without_case: int = 0
    complaints_against_adjuster: int = 0
    duplicates_sent: int = 0
    events: Counter[str] = field(default_factory=Counter)
    cases_by_line: Counter[str] = field(default_factory=Counter)
    cases_by_insurer: Counter[str] = field(default_factory=Counter)
    cases_by_city: Counter[tuple[str, str]] = field(default_factory=Counter)
    status: dict[str, str] = field(default_factory=dict)
    approval_path: dict[str, str] = field(default_factory=dict)
    payouts: dict[str, Decimal] = field(default_factory=dict)
    cat_cases: set[str] = field(default_factory=set)
    surge_sensitive: set[str] = field(default_factory=set)
    #: v2: settlements published per status, each payout's final status, withdrawn cases
    settlements: Counter[str] = field(default_factory=Counter)
    payout_status: dict[str, str] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    paid_once: set[str] = field(default_factory=set)  # payouts with at least one paid

    @property
    def payout_count(self) -> int:
        """Number of payout.approved decisions expected (one per paid case)."""
        return len(self.payouts)

    @property
    def payout_sum(self) -> Decimal:
        """Sum of the expected payout amounts."""
        return sum(self.payouts.values(), Decimal("0.00"))

    def status_counts(self) -> Counter[str]:
        """Cases per expected final status."""
        return Counter(self.status.values())

    def review_count(self, stage: str, decision: str | None = None) -> int:
        """Reviews published for ``stage`` (and ``decision``, if given)."""
        counts = self.reviews.get(stage, Counter())
        return counts[decision] if decision is not None else sum(counts.values())


@dataclass(slots=True)
class SimRun:
    """A generated run: records in publishing order, the tally, and the roster used."""

    events: list[SimEvent]
    expected: Expected
    roster: list[dict[str, str]]
    seed: int
