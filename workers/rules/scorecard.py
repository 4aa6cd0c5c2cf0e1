"""Which adjusters a supervisor should look at first (考核), and why.

SPEC §5 defines the scorecard's figures, not a ranking; this is the report's ranking
(issue 14: "sorted worst first with the reasons"). Pure: rows in, ranked rows with reasons out.
Each reason is a rule with a threshold; the penalty weighs what an insurer weighs most
(misconduct reports and upheld complaints before lateness). Ties: fewer reasons, then
adjuster id, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ON_TIME_TARGET = Decimal("0.90")
SATISFACTION_TARGET = Decimal("3.50")
MIN_SURVEYS = 3  # below this an on-time rate says little
MIN_REACHED = 3
UNABLE_SHARE = Decimal("0.20")


@dataclass(frozen=True)
class ScoreRow:
    """One adjuster-month of rm_adjuster_scorecard (callback figures None until tracked)."""

    adjuster_id: str
    name_masked: str | None
    dispatches_assigned: int
    surveys_completed: int
    surveys_unable: int
    surveys_on_time: int
    survey_on_time_rate: Decimal | None
    complaints: int
    complaints_upheld: int
    callbacks_reached: int | None
    satisfaction_avg: Decimal | None
    dissatisfied: int | None
    praise: int | None
    reports: int | None


@dataclass(frozen=True)
class Ranked:
    """A row with its penalty and reasons (empty when nothing stands out)."""

    row: ScoreRow
    penalty: Decimal
    reasons: tuple[str, ...]


def reasons(r: ScoreRow) -> list[str]:
    """Why this adjuster-month needs attention, most serious first."""
    out: list[str] = []
    if r.reports:
        out.append(f"{r.reports} misconduct report(s) 举报")
    if r.complaints_upheld:
        out.append(f"{r.complaints_upheld} upheld complaint(s)")
    if r.satisfaction_avg is not None and (r.callbacks_reached or 0) >= MIN_REACHED \
            and r.satisfaction_avg < SATISFACTION_TARGET:
        out.append(f"satisfaction {r.satisfaction_avg:.2f} < {SATISFACTION_TARGET}")
    if r.dissatisfied:
        out.append(f"{r.dissatisfied} dissatisfied callback(s)")
    if r.survey_on_time_rate is not None and r.surveys_completed >= MIN_SURVEYS \
            and r.survey_on_time_rate < ON_TIME_TARGET:
        out.append(f"on time {r.survey_on_time_rate * 100:.0f}% < {ON_TIME_TARGET * 100:.0f}%")
    surveys = r.surveys_completed + r.surveys_unable
    if surveys >= MIN_SURVEYS and Decimal(r.surveys_unable) / surveys > UNABLE_SHARE:
        out.append(f"{r.surveys_unable} of {surveys} surveys unable")
    if r.complaints > r.complaints_upheld:
        out.append(f"{r.complaints} complaint(s) filed")
    return out


def penalty(r: ScoreRow) -> Decimal:
    """Weighted count of what went wrong, less praise."""
    late = r.surveys_completed - r.surveys_on_time
    return (5 * Decimal(r.reports or 0) + 3 * r.complaints_upheld + r.complaints
            + 2 * Decimal(r.dissatisfied or 0) + late + Decimal("0.5") * r.surveys_unable
            - Decimal(r.praise or 0))


def rank_worst_first(rows: Iterable[ScoreRow]) -> list[Ranked]:
    """Rows by penalty (highest first), then more reasons, then adjuster id."""
    ranked = [Ranked(r, penalty(r), tuple(reasons(r))) for r in rows]
    return sorted(ranked, key=lambda x: (-x.penalty, -len(x.reasons), x.row.adjuster_id))
