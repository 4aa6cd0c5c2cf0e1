"""Complaint rules (SPEC §4.7) and group-complaint detection (SPEC §4.6).

Decisions where the SPEC is silent:

* A complaint merges into the *oldest* open complaint (``filed_at``, then
  ``complaint_id``) with the same ``case_id`` and ``category``; complaints
  without a case never merge.
* An extension (v2) that is both late and over the limit is refused as
  ``extension_limit``: the limit is absolute, lateness only matters while one is left.
* Group detection counts complaints filed in ``(at − 24 h, at]``. Merged
  complaints should not be passed in (有效投诉 counted once). A complaint
  counts per (insurer, city) only when it has a case whose city is known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from workers.rules.policy import Policy

COMPLAINT_DESK = "complaint_desk"
"""Owner of a complaint that names no adjuster."""

EXTENSION_WINDOWS: tuple[timedelta, ...] = (timedelta(days=30), timedelta(days=60))
"""Complaint windows after the first and the second accepted extension (NFRA rules)."""

LATE_EXTENSION = "late_extension"
EXTENSION_LIMIT = "extension_limit"


@dataclass(frozen=True)
class ExtensionDecision:
    """Outcome of a complaint-stage ``extended`` review (SPEC §4.7, v2)."""

    refusal: str | None
    window: timedelta | None = None
    due_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        """True when the complaint gets the new window."""
        return self.refusal is None


def decide_extension(filed_at: datetime, due_at: datetime, extensions: int,
                     completed_at: datetime) -> ExtensionDecision:
    """Accept an extension made before the current ``due_at``: the first sets the window to
    30 days from filing, the second to 60; a third is refused."""
    if extensions >= len(EXTENSION_WINDOWS):
        return ExtensionDecision(EXTENSION_LIMIT)
    if not completed_at < due_at:
        return ExtensionDecision(LATE_EXTENSION)
    window = EXTENSION_WINDOWS[extensions]
    return ExtensionDecision(None, window, filed_at + window)


@dataclass(frozen=True)
class ComplaintRef:
    """The merge-relevant facts of a complaint."""

    complaint_id: str
    case_id: str | None
    category: str
    filed_at: datetime


@dataclass(frozen=True)
class ComplaintFact:
    """A complaint as seen by group detection; ``city`` is the linked case's city."""

    filed_at: datetime
    insurer: str
    adjuster_id: str | None = None
    case_id: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class GroupComplaintHit:
    """A scope with at least ``min_count`` complaints in the window."""

    scope: tuple[tuple[str, str], ...]
    count: int

    def scope_dict(self) -> dict[str, str]:
        """The alert ``scope`` object (keys ``adjuster_id`` or ``insurer`` + ``city``)."""
        return dict(self.scope)


def complaint_owner(against_adjuster_id: str | None) -> str:
    """The adjuster complained about, else the complaint desk."""
    return against_adjuster_id if against_adjuster_id else COMPLAINT_DESK


def complaint_due_at(filed_at: datetime, policy: Policy) -> datetime:
    """``filed_at`` + the complaint window (15 days of elapsed time by default)."""
    return filed_at + policy.sla.complaint


def should_merge(new: ComplaintRef, open_complaints: Iterable[ComplaintRef]) -> str | None:
    """The ``complaint_id`` to merge ``new`` into, or ``None`` to register it."""
    if new.case_id is None:
        return None
    matches = [
        c
        for c in open_complaints
        if c.complaint_id != new.complaint_id
        and c.case_id == new.case_id
        and c.category == new.category
    ]
    if not matches:
        return None
    return min(matches, key=lambda c: (c.filed_at, c.complaint_id)).complaint_id


def group_complaints(
    complaints: Iterable[ComplaintFact], at: datetime, policy: Policy
) -> list[GroupComplaintHit]:
    """Scopes with ≥ ``min_count`` complaints filed in ``(at − window, at]``.

    Per adjuster (complaints naming one) and per (insurer, city) (complaints
    with a case whose city is known). Sorted by scope for stable output.
    """
    rule = policy.group_complaint
    since = at - rule.window
    counts: Counter[tuple[tuple[str, str], ...]] = Counter()
    for c in complaints:
        if not since < c.filed_at <= at:
            continue
        if c.adjuster_id:
            counts[(("adjuster_id", c.adjuster_id),)] += 1
        if c.case_id is not None and c.city:
            counts[(("city", c.city), ("insurer", c.insurer))] += 1
    hits = [GroupComplaintHit(scope, n) for scope, n in counts.items() if n >= rule.min_count]
    return sorted(hits, key=lambda h: h.scope)
