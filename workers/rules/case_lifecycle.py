"""Case lifecycle and review chain (SPEC §4.1, §4.3) as pure transitions.

Every function takes the current :class:`CaseState` and returns a
:class:`Transition`: whether the event was accepted (else a :class:`Refusal`
for the timeline and the data-quality registry), the new state, the SLA clock
effects as data, and a payout when the case is approved with a non-zero amount.

Decisions where the SPEC is silent (details in ``README.md`` here): a new
case waits for ``survey``; refused reviews change nothing (not even
``disputed``); catastrophe mode is fixed by the first accepted initial review;
0.00 approvals follow the chain and close without a payout; an accepted
initial review on a ``reported`` case stops the dispatch clock.

Clock effects happen at the event's data timestamp, applied in the order
resume, pause, stop, start; an effect on a clock that does not exist or is not
in that state is a no-op (e.g. ``initial_review`` when there was no survey).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from schemas.enums import ApprovalPath as ApprovalPath
from schemas.enums import Decision as Decision
from schemas.enums import Stage as Stage
from schemas.ids import payout_id as payout_id
from workers.rules.policy import Policy
from workers.rules.sla import Clock

CENT = Decimal("0.01")
Clocks = tuple[Clock, ...]


class CaseStatus(StrEnum):
    """Values of ``rm_cases.status``."""

    REPORTED = "reported"
    DISPATCHED = "dispatched"
    SURVEYED = "surveyed"
    INITIAL_REVIEW = "initial_review"
    SECOND_REVIEW = "second_review"
    JOINT_REVIEW = "joint_review"
    DOCUMENTS_PENDING = "documents_pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CLOSED = "closed"  # v2: payout paid (结案), or approved 0.00
    WITHDRAWN = "withdrawn"  # v2: 撤案


class RefusalCode(StrEnum):
    """Why an event did not change the case (timeline outcome detail)."""

    CASE_CLOSED = "case_closed"
    WRONG_STAGE = "wrong_stage"
    ESCALATED_AT_JOINT = "escalated_at_joint"
    MISSING_AMOUNT = "missing_amount"
    CASE_WITHDRAWN = "case_withdrawn"  # v2: a review after the case's withdrawal (§4.9)


#: SPEC §4.1 v2: terminal statuses (``closed_at`` is set when a case becomes one).
TERMINAL: frozenset[CaseStatus] = frozenset(
    {CaseStatus.REJECTED, CaseStatus.CLOSED, CaseStatus.WITHDRAWN})
#: Decided or ended: the review chain is over (``approved`` waits for payment only).
DECIDED: frozenset[CaseStatus] = TERMINAL | {CaseStatus.APPROVED}
_STAGE_CLOCK = {
    Stage.INITIAL: Clock.INITIAL_REVIEW,
    Stage.SECOND: Clock.SECOND_REVIEW,
    Stage.JOINT: Clock.JOINT_REVIEW,
}
_PATH = {
    Stage.INITIAL: ApprovalPath.FAST_TRACK,
    Stage.SECOND: ApprovalPath.STANDARD,
    Stage.JOINT: ApprovalPath.JOINT,
}
_STAGE_STATUS = {
    Stage.INITIAL: CaseStatus.INITIAL_REVIEW,  # no v1 transition produces it; accepted anyway
    Stage.SECOND: CaseStatus.SECOND_REVIEW,
    Stage.JOINT: CaseStatus.JOINT_REVIEW,
}


@dataclass(frozen=True)
class CaseState:
    """What the rules need to know about a case."""

    status: CaseStatus = CaseStatus.REPORTED
    stage: Stage | None = Stage.SURVEY
    injuries: int = 0
    disputed: bool = False
    has_cat_code: bool = False
    cat_mode: bool | None = None


@dataclass(frozen=True)
class ReviewInput:
    """An initial / second / joint review.completed event."""

    review_id: str
    stage: Stage
    decision: Decision
    completed_at: datetime
    amount: Decimal | None = None
    disputed: bool = False


@dataclass(frozen=True)
class ClockEffects:
    """SLA clock effects of one event (apply: resume, pause, stop, start)."""

    resume: Clocks = ()
    pause: Clocks = ()
    stop: Clocks = ()
    start: Clocks = ()


@dataclass(frozen=True)
class Payout:
    """A payout.approved decision (ids and insurer fields are the caller's)."""

    review_id: str
    approval_path: ApprovalPath
    amount: Decimal
    approved_at: datetime
    pay_by: datetime


@dataclass(frozen=True)
class Refusal:
    """Why an event was refused; ``detail`` is free of PII."""

    code: RefusalCode
    detail: str


@dataclass(frozen=True)
class Transition:
    """Result of applying one event to a case."""

    accepted: bool
    state: CaseState
    clocks: ClockEffects = ClockEffects()
    payout: Payout | None = None
    refusal: Refusal | None = None



def apply_case_reported(injuries: int, has_cat_code: bool) -> Transition:
    """A new case: ``reported``, waiting for the survey; starts dispatch and determination."""
    state = CaseState(injuries=injuries, has_cat_code=has_cat_code)
    return Transition(True, state, ClockEffects(start=(Clock.DISPATCH, Clock.DETERMINATION)))


def on_dispatch_requested(state: CaseState) -> Transition:
    """A dispatch for the case: ``reported`` → ``dispatched``, stops the dispatch clock.

    The stop is emitted for every dispatch of a non-terminal case (a no-op once
    stopped); only a ``reported`` case changes status.
    """
    if state.status in DECIDED:
        return Transition(True, state)
    effects = ClockEffects(stop=(Clock.DISPATCH,))
    if state.status is not CaseStatus.REPORTED:
        return Transition(True, state, effects)
    return Transition(True, replace(state, status=CaseStatus.DISPATCHED), effects)


def on_survey_completed(state: CaseState, disputed: bool = False) -> Transition:
    """Survey ``completed``: → ``surveyed``, waits for initial, starts initial_review."""
    refusal = _stage_refusal(state, Stage.SURVEY)
    if refusal is not None:
        return Transition(False, state, refusal=refusal)
    stops = (Clock.DISPATCH,) if state.status is CaseStatus.REPORTED else ()
    new = replace(
        state, status=CaseStatus.SURVEYED, stage=Stage.INITIAL, disputed=state.disputed or disputed
    )
    return Transition(True, new, ClockEffects(stop=stops, start=(Clock.INITIAL_REVIEW,)))


def on_survey_unable(state: CaseState) -> Transition:
    """Survey ``unable``: accepted while the case waits for the survey, changes nothing."""
    refusal = _stage_refusal(state, Stage.SURVEY)
    return Transition(refusal is None, state, refusal=refusal)


def accepts_stage(state: CaseState, stage: Stage) -> bool:
    """True when a review of ``stage`` may change the case (SPEC §4.1)."""
    if state.status in DECIDED:
        return False
    if stage in (Stage.SURVEY, Stage.INITIAL) and state.status in (
        CaseStatus.REPORTED,
        CaseStatus.DISPATCHED,
    ):
        return True
    if stage is Stage.INITIAL and state.status is CaseStatus.SURVEYED:
        return True
    if state.status is CaseStatus.DOCUMENTS_PENDING:
        return stage is state.stage
    return _STAGE_STATUS.get(stage) is state.status


def decide_review(
    state: CaseState, review: ReviewInput, policy: Policy, surge_open_at_review: bool
) -> Transition:
    """Apply an initial / second / joint review (SPEC §4.3).

    ``surge_open_at_review``: a surge alert for the case's city was open at
    ``review.completed_at`` (only used when this review fixes catastrophe mode).
    """
    refusal = _review_refusal(state, review)
    if refusal is not None:
        return Transition(False, state, refusal=refusal)
    state = _prepare(state, review, surge_open_at_review)
    clock = _STAGE_CLOCK[review.stage]
    pending = state.status is CaseStatus.DOCUMENTS_PENDING
    stops = _leaving_stage_stops(state, review.stage)
    if review.decision is Decision.DOCUMENTS_REQUESTED:
        if pending:
            return Transition(True, state)
        new = replace(state, status=CaseStatus.DOCUMENTS_PENDING, stage=review.stage)
        early = tuple(c for c in stops if c is Clock.DISPATCH)
        return Transition(True, new, ClockEffects(pause=(clock, Clock.DETERMINATION), stop=early))
    resumed = (clock, Clock.DETERMINATION) if pending else ()
    if review.decision is Decision.REJECTED:
        new = replace(state, status=CaseStatus.REJECTED, stage=None)
        return Transition(True, new, ClockEffects(resumed, (), stops + (Clock.DETERMINATION,)))
    if review.decision is Decision.ESCALATED:
        return _to_joint(state, resumed, stops)
    return _approved(state, review, policy, resumed, stops)


def _approved(
    state: CaseState, review: ReviewInput, policy: Policy, resumed: Clocks, stops: Clocks
) -> Transition:
    amount = _amount(review)
    if review.stage is Stage.INITIAL and not _fast_track(state, amount, policy):
        new = replace(state, status=CaseStatus.SECOND_REVIEW, stage=Stage.SECOND)
        return Transition(True, new, ClockEffects(resumed, (), stops, (Clock.SECOND_REVIEW,)))
    if review.stage is Stage.SECOND and _needs_joint(state, amount, policy):
        return _to_joint(state, resumed, stops)
    at = review.completed_at
    payout = Payout(review.review_id, _PATH[review.stage], amount, at, at + policy.pay_by)
    # v2: an approval of 0.00 makes no payout and closes the case at once (SPEC §3)
    status = CaseStatus.APPROVED if amount > 0 else CaseStatus.CLOSED
    new = replace(state, status=status, stage=None)
    effects = ClockEffects(resumed, (), stops + (Clock.DETERMINATION,))
    return Transition(True, new, effects, payout if amount > 0 else None)


def _to_joint(state: CaseState, resumed: Clocks, stops: Clocks) -> Transition:
    new = replace(state, status=CaseStatus.JOINT_REVIEW, stage=Stage.JOINT)
    return Transition(True, new, ClockEffects(resumed, (), stops, (Clock.JOINT_REVIEW,)))


def _fast_track(state: CaseState, amount: Decimal, policy: Policy) -> bool:
    limit = policy.cat_fast_track_limit if state.cat_mode else policy.fast_track_limit
    return amount <= limit and state.injuries == 0 and not state.disputed


def _needs_joint(state: CaseState, amount: Decimal, policy: Policy) -> bool:
    return amount >= policy.joint_amount_threshold or state.injuries > 0 or state.disputed


def _amount(review: ReviewInput) -> Decimal:
    return (review.amount or Decimal(0)).quantize(CENT)  # None is refused earlier


def _prepare(state: CaseState, review: ReviewInput, surge_open: bool) -> CaseState:
    """Apply ``disputed`` and, at the first initial review, fix catastrophe mode."""
    cat_mode = state.cat_mode
    if review.stage is Stage.INITIAL and cat_mode is None:
        cat_mode = state.has_cat_code or surge_open
    return replace(state, disputed=state.disputed or review.disputed, cat_mode=cat_mode)


def _leaving_stage_stops(state: CaseState, stage: Stage) -> Clocks:
    """Clocks that stop when the case leaves ``stage`` (before terminal extras)."""
    if stage is not Stage.INITIAL:
        return (_STAGE_CLOCK[stage],)
    if state.status is CaseStatus.REPORTED:
        return (Clock.DISPATCH,)
    if state.status is CaseStatus.DISPATCHED:
        return ()
    return (Clock.INITIAL_REVIEW,)


def _review_refusal(state: CaseState, review: ReviewInput) -> Refusal | None:
    if review.stage is Stage.SURVEY:  # survey reviews go through on_survey_*
        return Refusal(RefusalCode.WRONG_STAGE, "survey review is not a review-chain decision")
    refusal = _stage_refusal(state, review.stage)
    if refusal is not None:
        return refusal
    if review.decision is Decision.ESCALATED and review.stage is Stage.JOINT:
        return Refusal(RefusalCode.ESCALATED_AT_JOINT, "joint review cannot escalate further")
    if review.decision is Decision.APPROVED and (review.amount is None or review.amount < 0):
        return Refusal(RefusalCode.MISSING_AMOUNT, f"{review.stage} approval lacks a valid amount")
    return None


def _stage_refusal(state: CaseState, stage: Stage) -> Refusal | None:
    if state.status is CaseStatus.WITHDRAWN:
        return Refusal(RefusalCode.CASE_WITHDRAWN, f"{stage} review after the case's withdrawal")
    if state.status in DECIDED:
        return Refusal(RefusalCode.CASE_CLOSED, f"{stage} review after case {state.status}")
    if accepts_stage(state, stage):
        return None
    waits = state.stage.value if state.stage is not None else "nothing"
    detail = f"{stage} review while case is {state.status} waiting for {waits}"
    return Refusal(RefusalCode.WRONG_STAGE, detail)
