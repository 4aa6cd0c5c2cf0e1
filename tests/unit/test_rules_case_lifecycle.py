"""Case lifecycle and review chain: every SPEC §4.3 edge, clock effects included."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from workers.rules.case_lifecycle import (
    ApprovalPath,
    CaseState,
    CaseStatus,
    ClockEffects,
    Decision,
    RefusalCode,
    ReviewInput,
    Stage,
    accepts_stage,
    apply_case_reported,
    decide_review,
    on_dispatch_requested,
    on_survey_completed,
    on_survey_unable,
    payout_id,
)
from workers.rules.policy import Policy
from workers.rules.sla import Clock

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 21, 14, 1, 30, tzinfo=CST)
POLICY = Policy()
S = CaseStatus

SURVEYED = CaseState(status=S.SURVEYED, stage=Stage.INITIAL)
SECOND = CaseState(status=S.SECOND_REVIEW, stage=Stage.SECOND)
JOINT = CaseState(status=S.JOINT_REVIEW, stage=Stage.JOINT)


def review(
    stage: Stage, decision: Decision, amount: str | None = None, disputed: bool = False
) -> ReviewInput:
    value = Decimal(amount) if amount is not None else None
    return ReviewInput(f"R-{stage}", stage, decision, AT, value, disputed)


def approve(
    state: CaseState, stage: Stage, amount: str, *, surge: bool = False, disputed: bool = False
) -> tuple[CaseStatus, str | None]:
    """(new status, approval path or None) of an approval."""
    t = decide_review(state, review(stage, Decision.APPROVED, amount, disputed), POLICY, surge)
    assert t.accepted
    return t.state.status, t.payout.approval_path if t.payout else None


# --- initial approval: fast track --------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "amount", "surge", "disputed", "expected"),
    [
        (SURVEYED, "5000.00", False, False, (S.APPROVED, ApprovalPath.FAST_TRACK)),
        (SURVEYED, "5000.01", False, False, (S.SECOND_REVIEW, None)),
        (SURVEYED, "0.01", False, False, (S.APPROVED, ApprovalPath.FAST_TRACK)),
        (replace(SURVEYED, injuries=1), "100.00", False, False, (S.SECOND_REVIEW, None)),
        (SURVEYED, "100.00", False, True, (S.SECOND_REVIEW, None)),  # disputed now
        (replace(SURVEYED, disputed=True), "100.00", False, False, (S.SECOND_REVIEW, None)),
        # catastrophe mode: cat_code, or a surge open at completed_at
        (
            replace(SURVEYED, has_cat_code=True),
            "20000.00",
            False,
            False,
            (S.APPROVED, ApprovalPath.FAST_TRACK),
        ),
        (replace(SURVEYED, has_cat_code=True), "20000.01", False, False, (S.SECOND_REVIEW, None)),
        (SURVEYED, "20000.00", True, False, (S.APPROVED, ApprovalPath.FAST_TRACK)),
        (SURVEYED, "20000.00", False, False, (S.SECOND_REVIEW, None)),
        (
            replace(SURVEYED, has_cat_code=True, injuries=2),
            "10.00",
            False,
            False,
            (S.SECOND_REVIEW, None),
        ),
        # cat mode already fixed (by documents_requested) wins over the surge flag
        (replace(SURVEYED, cat_mode=False), "20000.00", True, False, (S.SECOND_REVIEW, None)),
        (
            replace(SURVEYED, cat_mode=True),
            "20000.00",
            False,
            False,
            (S.APPROVED, ApprovalPath.FAST_TRACK),
        ),
    ],
)
def test_initial_approval(
    state: CaseState,
    amount: str,
    surge: bool,
    disputed: bool,
    expected: tuple[CaseStatus, str | None],
) -> None:
    assert approve(state, Stage.INITIAL, amount, surge=surge, disputed=disputed) == expected


@pytest.mark.parametrize(
    ("status", "stops"),
    [
        (S.SURVEYED, (Clock.INITIAL_REVIEW, Clock.DETERMINATION)),
        (S.DISPATCHED, (Clock.DETERMINATION,)),
        (S.REPORTED, (Clock.DISPATCH, Clock.DETERMINATION)),  # document-only claim
    ],
)
def test_fast_track_payout_and_clocks(status: CaseStatus, stops: tuple[Clock, ...]) -> None:
    state = CaseState(status=status, stage=Stage.INITIAL if status is S.SURVEYED else Stage.SURVEY)
    t = decide_review(state, review(Stage.INITIAL, Decision.APPROVED, "2980"), POLICY, False)
    assert t.state == replace(state, status=S.APPROVED, stage=None, cat_mode=False)
    assert t.clocks == ClockEffects(stop=stops)
    assert t.payout is not None
    assert t.payout.amount == Decimal("2980.00")
    assert str(t.payout.amount) == "2980.00"
    assert t.payout.approved_at == AT
    assert t.payout.pay_by == datetime(2026, 12, 1, 14, 1, 30, tzinfo=CST)
    assert t.payout.review_id == "R-initial"


def test_initial_into_second_starts_second_clock() -> None:
    t = decide_review(SURVEYED, review(Stage.INITIAL, Decision.APPROVED, "8000"), POLICY, False)
    assert t.state.stage is Stage.SECOND
    assert t.payout is None
    assert t.clocks == ClockEffects(stop=(Clock.INITIAL_REVIEW,), start=(Clock.SECOND_REVIEW,))


# --- second and joint approval -----------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "amount", "disputed", "expected"),
    [
        (SECOND, "99999.99", False, (S.APPROVED, ApprovalPath.STANDARD)),
        (SECOND, "100000.00", False, (S.JOINT_REVIEW, None)),
        (SECOND, "100000.01", False, (S.JOINT_REVIEW, None)),
        (replace(SECOND, injuries=1), "8000.00", False, (S.JOINT_REVIEW, None)),
        (replace(SECOND, disputed=True), "8000.00", False, (S.JOINT_REVIEW, None)),
        (SECOND, "8000.00", True, (S.JOINT_REVIEW, None)),
        (replace(SECOND, cat_mode=True), "8000.00", False, (S.APPROVED, ApprovalPath.STANDARD)),
        (SECOND, "0.00", False, (S.CLOSED, None)),  # v2: 0.00 closes at once
    ],
)
def test_second_approval(
    state: CaseState, amount: str, disputed: bool, expected: tuple[CaseStatus, str | None]
) -> None:
    assert approve(state, Stage.SECOND, amount, disputed=disputed) == expected


def test_second_into_joint_clocks() -> None:
    t = decide_review(SECOND, review(Stage.SECOND, Decision.APPROVED, "100000"), POLICY, False)
    assert t.clocks == ClockEffects(stop=(Clock.SECOND_REVIEW,), start=(Clock.JOINT_REVIEW,))


@pytest.mark.parametrize(
    ("state", "amount", "expected"),
    [
        (JOINT, "250000.00", (S.APPROVED, ApprovalPath.JOINT)),
        (replace(JOINT, injuries=3, disputed=True), "1.00", (S.APPROVED, ApprovalPath.JOINT)),
        (JOINT, "0.00", (S.CLOSED, None)),  # v2: 0.00 closes at once
    ],
)
def test_joint_approval(
    state: CaseState, amount: str, expected: tuple[CaseStatus, str | None]
) -> None:
    assert approve(state, Stage.JOINT, amount) == expected


def test_zero_approval_at_initial_closes_without_payout() -> None:
    t = decide_review(SURVEYED, review(Stage.INITIAL, Decision.APPROVED, "0.00"), POLICY, False)
    assert (t.state.status, t.payout) == (S.CLOSED, None)  # v2: closed at once
    assert Clock.DETERMINATION in t.clocks.stop


def test_zero_approval_with_injuries_still_follows_the_chain() -> None:
    state = replace(SURVEYED, injuries=1)
    assert approve(state, Stage.INITIAL, "0") == (S.SECOND_REVIEW, None)


# --- escalation and rejection ------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "stage", "stops"),
    [
        (SURVEYED, Stage.INITIAL, (Clock.INITIAL_REVIEW,)),
        (CaseState(status=S.DISPATCHED), Stage.INITIAL, ()),
        (SECOND, Stage.SECOND, (Clock.SECOND_REVIEW,)),
    ],
)
def test_escalated_goes_to_joint(state: CaseState, stage: Stage, stops: tuple[Clock, ...]) -> None:
    t = decide_review(state, review(stage, Decision.ESCALATED), POLICY, False)
    assert (t.accepted, t.state.status, t.state.stage) == (True, S.JOINT_REVIEW, Stage.JOINT)
    assert t.clocks == ClockEffects(stop=stops, start=(Clock.JOINT_REVIEW,))


def test_escalated_at_joint_is_refused() -> None:
    t = decide_review(JOINT, review(Stage.JOINT, Decision.ESCALATED), POLICY, False)
    assert not t.accepted
    assert t.refusal is not None and t.refusal.code is RefusalCode.ESCALATED_AT_JOINT
    assert (t.state, t.clocks, t.payout) == (JOINT, ClockEffects(), None)


@pytest.mark.parametrize(
    ("state", "stage", "stage_clock"),
    [
        (SURVEYED, Stage.INITIAL, Clock.INITIAL_REVIEW),
        (SECOND, Stage.SECOND, Clock.SECOND_REVIEW),
        (JOINT, Stage.JOINT, Clock.JOINT_REVIEW),
    ],
)
def test_rejected_at_each_stage(state: CaseState, stage: Stage, stage_clock: Clock) -> None:
    t = decide_review(state, review(stage, Decision.REJECTED), POLICY, False)
    assert (t.state.status, t.state.stage, t.payout) == (S.REJECTED, None, None)
    assert t.clocks == ClockEffects(stop=(stage_clock, Clock.DETERMINATION))


# --- documents requested -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "stage", "stage_clock"),
    [
        (SURVEYED, Stage.INITIAL, Clock.INITIAL_REVIEW),
        (SECOND, Stage.SECOND, Clock.SECOND_REVIEW),
        (JOINT, Stage.JOINT, Clock.JOINT_REVIEW),
    ],
)
def test_documents_requested_pauses_then_next_review_resumes(
    state: CaseState, stage: Stage, stage_clock: Clock
) -> None:
    asked = decide_review(state, review(stage, Decision.DOCUMENTS_REQUESTED), POLICY, False)
    assert (asked.state.status, asked.state.stage) == (S.DOCUMENTS_PENDING, stage)
    assert asked.clocks == ClockEffects(pause=(stage_clock, Clock.DETERMINATION))
    again = decide_review(asked.state, review(stage, Decision.DOCUMENTS_REQUESTED), POLICY, False)
    assert (again.accepted, again.state, again.clocks) == (True, asked.state, ClockEffects())
    done = decide_review(asked.state, review(stage, Decision.REJECTED), POLICY, False)
    assert done.clocks == ClockEffects(
        resume=(stage_clock, Clock.DETERMINATION), stop=(stage_clock, Clock.DETERMINATION)
    )


def test_documents_then_approved_pays_out() -> None:
    asked = decide_review(
        SURVEYED, review(Stage.INITIAL, Decision.DOCUMENTS_REQUESTED), POLICY, True
    )
    assert asked.state.cat_mode is True  # fixed at the first initial review
    later = decide_review(
        asked.state, review(Stage.INITIAL, Decision.APPROVED, "15000"), POLICY, False
    )
    assert later.payout is not None and later.payout.approval_path is ApprovalPath.FAST_TRACK
    assert later.clocks.resume == (Clock.INITIAL_REVIEW, Clock.DETERMINATION)
    assert later.clocks.stop == (Clock.INITIAL_REVIEW, Clock.DETERMINATION)


def test_documents_at_second_then_approved_into_joint() -> None:
    asked = decide_review(SECOND, review(Stage.SECOND, Decision.DOCUMENTS_REQUESTED), POLICY, False)
    t = decide_review(asked.state, review(Stage.SECOND, Decision.APPROVED, "150000"), POLICY, False)
    assert t.state.status is S.JOINT_REVIEW
    assert t.clocks == ClockEffects(
        resume=(Clock.SECOND_REVIEW, Clock.DETERMINATION),
        stop=(Clock.SECOND_REVIEW,),
        start=(Clock.JOINT_REVIEW,),
    )


def test_documents_on_a_reported_case_stops_the_dispatch_clock() -> None:
    t = decide_review(
        CaseState(), review(Stage.INITIAL, Decision.DOCUMENTS_REQUESTED), POLICY, False
    )
    assert t.clocks == ClockEffects(
        pause=(Clock.INITIAL_REVIEW, Clock.DETERMINATION), stop=(Clock.DISPATCH,)
    )


# --- refusals: wrong stage, terminal, bad input ------------------------------------------

PENDING_INITIAL = CaseState(status=S.DOCUMENTS_PENDING, stage=Stage.INITIAL)
PENDING_SECOND = CaseState(status=S.DOCUMENTS_PENDING, stage=Stage.SECOND)


@pytest.mark.parametrize(
    ("state", "stage", "code"),
    [
        (CaseState(), Stage.SECOND, RefusalCode.WRONG_STAGE),
        (SURVEYED, Stage.JOINT, RefusalCode.WRONG_STAGE),
        (SECOND, Stage.INITIAL, RefusalCode.WRONG_STAGE),
        (SECOND, Stage.JOINT, RefusalCode.WRONG_STAGE),
        (JOINT, Stage.SECOND, RefusalCode.WRONG_STAGE),
        (PENDING_INITIAL, Stage.SECOND, RefusalCode.WRONG_STAGE),
        (PENDING_SECOND, Stage.INITIAL, RefusalCode.WRONG_STAGE),
        (SURVEYED, Stage.SURVEY, RefusalCode.WRONG_STAGE),
        (CaseState(status=S.APPROVED, stage=None), Stage.INITIAL, RefusalCode.CASE_CLOSED),
        (CaseState(status=S.APPROVED, stage=None), Stage.JOINT, RefusalCode.CASE_CLOSED),
        (CaseState(status=S.REJECTED, stage=None), Stage.SECOND, RefusalCode.CASE_CLOSED),
    ],
)
def test_refused_reviews_change_nothing(state: CaseState, stage: Stage, code: RefusalCode) -> None:
    t = decide_review(state, review(stage, Decision.APPROVED, "100", disputed=True), POLICY, True)
    assert not t.accepted
    assert t.refusal is not None and t.refusal.code is code
    assert (t.state, t.clocks, t.payout) == (state, ClockEffects(), None)  # disputed not set


def test_refusal_detail_names_stage_and_status() -> None:
    t = decide_review(SECOND, review(Stage.JOINT, Decision.APPROVED, "1"), POLICY, False)
    assert t.refusal is not None
    assert t.refusal.detail == "joint review while case is second_review waiting for second"


def test_approval_without_amount_is_refused() -> None:
    t = decide_review(SURVEYED, review(Stage.INITIAL, Decision.APPROVED), POLICY, False)
    assert t.refusal is not None and t.refusal.code is RefusalCode.MISSING_AMOUNT


@pytest.mark.parametrize(
    ("status", "stage", "review_stage", "accepted"),
    [
        (S.REPORTED, Stage.SURVEY, Stage.INITIAL, True),
        (S.DISPATCHED, Stage.SURVEY, Stage.INITIAL, True),
        (S.SURVEYED, Stage.INITIAL, Stage.INITIAL, True),
        (S.INITIAL_REVIEW, Stage.INITIAL, Stage.INITIAL, True),
        (S.DOCUMENTS_PENDING, Stage.JOINT, Stage.JOINT, True),
        (S.DOCUMENTS_PENDING, Stage.JOINT, Stage.SECOND, False),
        (S.REPORTED, Stage.SURVEY, Stage.SURVEY, True),
        (S.DISPATCHED, Stage.SURVEY, Stage.SURVEY, True),
        (S.SURVEYED, Stage.INITIAL, Stage.SURVEY, False),
        (S.DOCUMENTS_PENDING, Stage.INITIAL, Stage.SURVEY, False),
    ],
)
def test_accepts_stage(
    status: CaseStatus, stage: Stage, review_stage: Stage, accepted: bool
) -> None:
    assert accepts_stage(CaseState(status=status, stage=stage), review_stage) is accepted


# --- cat mode and disputed persistence ---------------------------------------------------


def test_cat_mode_is_fixed_by_the_first_initial_review_only() -> None:
    second = decide_review(
        SURVEYED, review(Stage.INITIAL, Decision.APPROVED, "30000"), POLICY, False
    )
    assert second.state.cat_mode is False
    later = decide_review(
        second.state, review(Stage.SECOND, Decision.APPROVED, "30000"), POLICY, True
    )
    assert later.state.cat_mode is False


def test_disputed_sticks_once_set() -> None:
    t = decide_review(
        SURVEYED, review(Stage.INITIAL, Decision.APPROVED, "100", disputed=True), POLICY, False
    )
    assert t.state.disputed
    t = decide_review(t.state, review(Stage.SECOND, Decision.APPROVED, "100"), POLICY, False)
    assert t.state.status is S.JOINT_REVIEW and t.state.disputed


# --- reported, dispatch, survey ----------------------------------------------------------


def test_case_reported_starts_dispatch_and_determination() -> None:
    t = apply_case_reported(injuries=1, has_cat_code=True)
    assert t.state == CaseState(S.REPORTED, Stage.SURVEY, 1, False, True, None)
    assert t.clocks == ClockEffects(start=(Clock.DISPATCH, Clock.DETERMINATION))


@pytest.mark.parametrize(
    ("status", "new_status", "stops"),
    [
        (S.REPORTED, S.DISPATCHED, (Clock.DISPATCH,)),
        (S.DISPATCHED, S.DISPATCHED, (Clock.DISPATCH,)),
        (S.SECOND_REVIEW, S.SECOND_REVIEW, (Clock.DISPATCH,)),
        (S.APPROVED, S.APPROVED, ()),
    ],
)
def test_dispatch_requested(
    status: CaseStatus, new_status: CaseStatus, stops: tuple[Clock, ...]
) -> None:
    t = on_dispatch_requested(CaseState(status=status))
    assert (t.accepted, t.state.status, t.clocks.stop) == (True, new_status, stops)


@pytest.mark.parametrize(
    ("status", "accepted", "stops"),
    [
        (S.REPORTED, True, (Clock.DISPATCH,)),  # survey seen before its dispatch
        (S.DISPATCHED, True, ()),
        (S.SURVEYED, False, ()),
        (S.SECOND_REVIEW, False, ()),
        (S.DOCUMENTS_PENDING, False, ()),
        (S.REJECTED, False, ()),
    ],
)
def test_survey_completed(status: CaseStatus, accepted: bool, stops: tuple[Clock, ...]) -> None:
    stage = Stage.SURVEY if status in (S.REPORTED, S.DISPATCHED) else Stage.INITIAL
    state = CaseState(status=status, stage=stage)
    t = on_survey_completed(state, disputed=True)
    assert t.accepted is accepted
    if accepted:
        assert t.state == replace(state, status=S.SURVEYED, stage=Stage.INITIAL, disputed=True)
        assert t.clocks == ClockEffects(stop=stops, start=(Clock.INITIAL_REVIEW,))
    else:
        assert (t.state, t.clocks) == (state, ClockEffects())
        assert t.refusal is not None


@pytest.mark.parametrize(("status", "accepted"), [(S.DISPATCHED, True), (S.SURVEYED, False)])
def test_survey_unable_changes_nothing(status: CaseStatus, accepted: bool) -> None:
    state = CaseState(status=status)
    t = on_survey_unable(state)
    assert (t.accepted, t.state, t.clocks) == (accepted, state, ClockEffects())


def test_full_happy_path_from_sample_events() -> None:
    state = apply_case_reported(0, False).state
    state = on_dispatch_requested(state).state
    state = on_survey_completed(state).state
    t = decide_review(state, review(Stage.INITIAL, Decision.APPROVED, "2980.00"), POLICY, False)
    assert t.payout is not None and t.payout.approval_path is ApprovalPath.FAST_TRACK


def test_payout_id_is_uuid5_of_case_and_review() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "claimdesk:payout:C-1:R-1")
    assert payout_id("C-1", "R-1") == str(expected)
    # contract/examples/payout.approved.json
    sample = payout_id("C-PICC-2026-000123", "R-000123-initial")
    assert sample == "0d941194-cef4-560c-b989-d35b8a45f00c"
