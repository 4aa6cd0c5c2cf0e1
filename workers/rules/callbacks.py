"""Callbacks (回访, SPEC §4.10) as pure decisions: which to request, and what the calls found.

Sampling is deterministic so every replay and every worker makes the same choice:
h = the first 8 hex digits of SHA-256(``<kind>:<subject id>``) as an integer; sampled
iff h mod 100 < the kind's percentage. Complaint callbacks, callbacks on rejected cases
and closing callbacks of cases with a complaint filed by the closing instant are
mandatory.

The result of a callback is its lowest-numbered attempt that is ``reached`` or
``refused``; attempts after it are data-quality issues (``callback_after_result``).
Attempt 3 ``unreachable`` with no result makes the callback ``unreachable``. This is a
function of the *set* of attempts, so any arrival order gives the same result.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

DISPATCH = "dispatch"
CLOSING = "closing"
COMPLAINT = "complaint"
SAMPLED = "sampled"
MANDATORY = "mandatory"
AFTER_RESULT = "callback_after_result"
AFTER_CANCEL = "callback_after_cancel"
LAST_ATTEMPT = 3
DISSATISFIED_MAX = 2
"""``satisfaction`` ≤ 2 is *dissatisfied*."""


def sample_bucket(kind: str, subject_id: str) -> int:
    """h mod 100 for ``<kind>:<subject id>`` (SPEC test vectors: dispatch:D-000123-1 → 3)."""
    digest = hashlib.sha256(f"{kind}:{subject_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100


def is_sampled(kind: str, subject_id: str, percent: int) -> bool:
    """True when the callback is drawn at ``percent`` %."""
    return sample_bucket(kind, subject_id) < percent


@dataclass(frozen=True)
class CallbackRequest:
    """A ``callback.requested`` to make (ids are derived from kind and subject)."""

    kind: str
    subject_id: str
    case_id: str | None
    complaint_id: str | None
    dispatch_id: str | None
    adjuster_id: str | None
    reason: str
    requested_at: datetime
    due_by: datetime


def dispatch_callback(dispatch_id: str, case_id: str, adjuster_id: str | None,
                      surveyed_at: datetime, percent: int,
                      window: timedelta) -> CallbackRequest | None:
    """调度回访 after a ``completed`` survey on a dispatch with an adjuster, if sampled."""
    if adjuster_id is None or not is_sampled(DISPATCH, dispatch_id, percent):
        return None
    return CallbackRequest(DISPATCH, dispatch_id, case_id, None, dispatch_id, adjuster_id,
                           SAMPLED, surveyed_at, surveyed_at + window)


def closing_callback(case_id: str, closed_at: datetime, rejected: bool,
                     complaints_filed: Iterable[datetime], adjuster_id: str | None,
                     percent: int, window: timedelta) -> CallbackRequest | None:
    """结案回访 when a case becomes ``closed`` or ``rejected``.

    Mandatory for a rejection or when a complaint about the case was filed at or before the
    closing instant; else drawn at ``percent`` %.
    """
    mandatory = rejected or any(f <= closed_at for f in complaints_filed)
    if not mandatory and not is_sampled(CLOSING, case_id, percent):
        return None
    return CallbackRequest(CLOSING, case_id, case_id, None, None, adjuster_id,
                           MANDATORY if mandatory else SAMPLED, closed_at, closed_at + window)


def complaint_callback(complaint_id: str, case_id: str | None, against_adjuster_id: str | None,
                       closed_at: datetime, window: timedelta) -> CallbackRequest:
    """Every closed complaint gets a callback (its result is reported to the complainant)."""
    return CallbackRequest(COMPLAINT, complaint_id, case_id, complaint_id, None,
                           against_adjuster_id, MANDATORY, closed_at, closed_at + window)


@dataclass(frozen=True)
class Attempt:
    """One ``callback.completed`` (the comment, PII, is not here)."""

    attempt: int
    outcome: str  # reached, unreachable, refused
    completed_at: datetime
    satisfaction: int | None = None
    praise: bool = False
    report: bool = False


@dataclass(frozen=True)
class CallbackResult:
    """What the attempts of a callback add up to."""

    status: str  # requested, reached, refused, unreachable
    result: Attempt | None
    stopped_at: datetime | None
    after_result: tuple[int, ...]

    @property
    def dissatisfied(self) -> bool:
        """A reached result with satisfaction ≤ 2."""
        r = self.result
        return r is not None and r.satisfaction is not None and r.satisfaction <= DISSATISFIED_MAX


def callback_result(attempts: Iterable[Attempt],
                    cancelled_at: datetime | None = None) -> CallbackResult:
    """Status, result attempt, clock stop instant and the attempts after the result.

    A callback cancelled at ``cancelled_at`` (its case withdrawn, SPEC §4.9) counts only the
    attempts made before that instant (by data time, so any arrival order agrees); without
    a result by then it is ``cancelled`` and its clock stops at the cancellation.
    """
    by_number = sorted(attempts, key=lambda a: a.attempt)
    if cancelled_at is not None:
        by_number = [a for a in by_number if a.completed_at < cancelled_at]
    result = next((a for a in by_number if a.outcome in ("reached", "refused")), None)
    if result is not None:
        later = tuple(a.attempt for a in by_number if a.attempt > result.attempt)
        return CallbackResult(result.outcome, result, result.completed_at, later)
    last = next((a for a in by_number if a.attempt == LAST_ATTEMPT), None)
    if last is not None and last.outcome == "unreachable":
        return CallbackResult("unreachable", None, last.completed_at, ())
    if cancelled_at is not None:
        return CallbackResult("cancelled", None, cancelled_at, ())
    return CallbackResult("requested", None, None, ())


SATISFACTION_WINDOW = timedelta(days=7)
SATISFACTION_MIN_REACHED = 5
SATISFACTION_MAX_SHARE = 0.4


@dataclass(frozen=True)
class SatisfactionHit:
    """An adjuster with too many dissatisfied callbacks (the ``satisfaction`` alert)."""

    adjuster_id: str
    reached: int
    dissatisfied: int

    @property
    def share(self) -> float:
        """Dissatisfied share of the reached callbacks."""
        return self.dissatisfied / self.reached


def satisfaction_hits(results: Iterable[tuple[str, datetime, int]],
                      at: datetime) -> list[SatisfactionHit]:
    """Adjusters with ≥ 5 reached callbacks in ``(at − 7 days, at]`` (by result
    ``completed_at``) of which ≥ 40 % dissatisfied; input: (adjuster_id, completed_at,
    satisfaction) of reached results. Sorted by adjuster for stable output."""
    reached: Counter[str] = Counter()
    unhappy: Counter[str] = Counter()
    for adjuster_id, completed_at, satisfaction in results:
        if at - SATISFACTION_WINDOW < completed_at <= at:
            reached[adjuster_id] += 1
            unhappy[adjuster_id] += satisfaction <= DISSATISFIED_MAX
    return [SatisfactionHit(a, n, unhappy[a]) for a, n in sorted(reached.items())
            if n >= SATISFACTION_MIN_REACHED and unhappy[a] >= SATISFACTION_MAX_SHARE * n]
