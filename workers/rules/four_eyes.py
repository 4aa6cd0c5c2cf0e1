"""The four-eyes rule of the review chain (SPEC §4.3, v2: 复核 and 会审 are another person's).

A ``second`` review is refused when its reviewer made the applied initial ``approved``
decision of the case; a ``joint`` review is refused when its reviewer made an applied
initial or second ``approved`` or ``escalated`` decision. ``documents_requested`` and
refused reviews do not count, so only *applied deciding* reviews are passed in.

Pure: the caller loads the case's applied reviews (and adds the ones applied earlier in
the same batch) and records the refusal (timeline + data quality ``same_reviewer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SAME_REVIEWER = "same_reviewer"
"""Data-quality kind of a review refused by the four-eyes rule."""

#: stage of the new review → the (stage, decision) pairs whose reviewer may not decide it
_CONFLICTS: dict[str, frozenset[tuple[str, str]]] = {
    "second": frozenset({("initial", "approved")}),
    "joint": frozenset({("initial", "approved"), ("initial", "escalated"),
                        ("second", "approved"), ("second", "escalated")}),
}


@dataclass(frozen=True)
class PriorDecision:
    """An applied review of the case: who decided what at which stage."""

    stage: str
    decision: str
    reviewer_id: str


def four_eyes_refusal(stage: str, reviewer_id: str,
                      prior: Iterable[PriorDecision]) -> str | None:
    """A PII-free refusal detail when ``reviewer_id`` may not decide ``stage``, else None."""
    conflicts = _CONFLICTS.get(stage)
    if not conflicts:
        return None
    for p in prior:
        if p.reviewer_id == reviewer_id and (p.stage, p.decision) in conflicts:
            return (f"{stage} review by the reviewer of the {p.stage} {p.decision} decision"
                    " (four-eyes rule)")
    return None
