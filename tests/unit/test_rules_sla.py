"""SLA clock windows, pause/resume arithmetic and deterministic marks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from workers.rules.policy import Policy
from workers.rules.sla import (
    Clock,
    ClockOp,
    ClockOpKind,
    ClockTimes,
    Marks,
    apply_op,
    extend,
    final_marks_on_stop,
    marks_due,
    pause,
    resume,
    start_clock,
    stop,
    stop_earliest,
    sweep,
    warn_offset,
    window_for,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=CST)
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def clock10h() -> ClockTimes:
    """A 10 h window: warn at 8 h, due at 10 h."""
    return start_clock(T0, 10 * H, Decimal("0.8"))


@pytest.mark.parametrize(
    ("clock", "urgency", "expected"),
    [
        (Clock.DISPATCH, None, timedelta(minutes=30)),
        (Clock.SURVEY, "urgent", 4 * H),
        (Clock.SURVEY, "normal", 24 * H),
        (Clock.INITIAL_REVIEW, None, 72 * H),
        (Clock.SECOND_REVIEW, None, 48 * H),
        (Clock.JOINT_REVIEW, None, 120 * H),
        (Clock.DETERMINATION, None, 720 * H),
        (Clock.COMPLAINT, "urgent", 360 * H),  # urgency ignored off the survey clock
    ],
)
def test_window_for(clock: Clock, urgency: str | None, expected: timedelta) -> None:
    assert window_for(clock, Policy(), urgency) == expected


@pytest.mark.parametrize("urgency", [None, "URGENT", "high"])
def test_survey_window_needs_urgency(urgency: str | None) -> None:
    with pytest.raises(ValueError, match="urgency"):
        window_for(Clock.SURVEY, Policy(), urgency)


def test_start_clock_rejects_empty_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        start_clock(T0, timedelta(0), Decimal("0.8"))


def test_due_and_warn_instants() -> None:
    c = clock10h()
    assert c.due_at == c.breach_at == T0 + 10 * H
    assert c.warn_at == T0 + 8 * H
    survey = start_clock(T0, 4 * H, Decimal("0.8"))
    assert survey.warn_at == T0 + timedelta(hours=3, minutes=12)


def test_pause_resume_adds_paused_time() -> None:
    c = pause(clock10h(), T0 + 2 * H)
    assert c.paused
    c = resume(c, T0 + 5 * H)
    assert not c.paused
    assert c.paused_total == 3 * H
    assert c.due_at == T0 + 13 * H
    assert c.warn_at == T0 + 11 * H
    c = resume(pause(c, T0 + 6 * H), T0 + 6 * H + timedelta(minutes=30))
    assert c.paused_total == 3 * H + timedelta(minutes=30)


def test_double_pause_and_resume_are_noops() -> None:
    c = pause(clock10h(), T0 + H)
    assert pause(c, T0 + 2 * H) == c
    running = clock10h()
    assert resume(running, T0 + H) == running


def test_resume_before_pause_counts_nothing() -> None:
    c = resume(pause(clock10h(), T0 + 2 * H), T0 + H)
    assert c.paused_total == timedelta(0)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0 + 8 * H - US, Marks()),
        (T0 + 8 * H, Marks()),  # exactly at 80 %: not passed yet
        (T0 + 8 * H + US, Marks(T0 + 8 * H, None)),
        (T0 + 10 * H, Marks(T0 + 8 * H, None)),  # exactly due: on time
        (T0 + 10 * H + US, Marks(T0 + 8 * H, T0 + 10 * H)),
        (T0 + 100 * H, Marks(T0 + 8 * H, T0 + 10 * H)),
    ],
)
def test_marks_due_edges(now: datetime, expected: Marks) -> None:
    assert marks_due(clock10h(), now) == expected


def test_marks_due_flags() -> None:
    marks = marks_due(clock10h(), T0 + 9 * H)
    assert (marks.warn, marks.breach) == (True, False)


def test_no_progress_while_paused() -> None:
    c = pause(clock10h(), T0 + 7 * H)
    assert marks_due(c, T0 + 50 * H) == Marks()


def test_marks_shift_with_paused_time() -> None:
    c = resume(pause(clock10h(), T0 + 2 * H), T0 + 5 * H)  # 3 h paused
    assert marks_due(c, T0 + 11 * H) == Marks()
    assert marks_due(c, T0 + 12 * H) == Marks(T0 + 11 * H, None)
    assert marks_due(c, T0 + 14 * H) == Marks(T0 + 11 * H, T0 + 13 * H)


def test_warn_before_pause_stays_at_its_true_instant() -> None:
    # Warned at 8 h, paused at 9 h for 5 h, resumed: warn_at moves, the mark does not.
    c = resume(pause(clock10h(), T0 + 9 * H), T0 + 14 * H)
    assert c.warned_at == T0 + 8 * H
    assert c.warn_at == T0 + 13 * H
    assert marks_due(c, T0 + 20 * H) == Marks(T0 + 8 * H, T0 + 15 * H)
    assert final_marks_on_stop(c, T0 + 14 * H + 30 * timedelta(minutes=1)) == Marks(T0 + 8 * H)


@pytest.mark.parametrize(
    ("stopped_at", "expected"),
    [
        (T0 + H, Marks()),
        (T0 + 8 * H, Marks()),
        (T0 + 8 * H + US, Marks(T0 + 8 * H)),
        (T0 + 10 * H, Marks(T0 + 8 * H)),
        (T0 + 10 * H + US, Marks(T0 + 8 * H, T0 + 10 * H)),
        (T0 - H, Marks()),  # stop before start (out-of-order data)
    ],
)
def test_final_marks_on_stop(stopped_at: datetime, expected: Marks) -> None:
    assert final_marks_on_stop(clock10h(), stopped_at) == expected


def test_sweeper_ahead_of_data_is_withdrawn_on_stop() -> None:
    # The sweeper (wall clock) marked warn and breach; the data says the clock
    # stopped at 9 h, so only the warning is kept — same as a replay.
    swept = marks_due(clock10h(), T0 + 11 * H)
    c = ClockTimes(T0, 10 * H, 8 * H, warned_at=swept.warned_at, breached_at=swept.breached_at)
    assert final_marks_on_stop(c, T0 + 9 * H) == Marks(T0 + 8 * H)
    assert final_marks_on_stop(c, T0 + 7 * H) == Marks()


def test_sweeper_ahead_of_data_is_withdrawn_on_pause() -> None:
    c = ClockTimes(T0, 10 * H, 8 * H, warned_at=T0 + 8 * H)
    paused = pause(c, T0 + 7 * H)
    assert paused.marks == Marks()
    resumed = resume(paused, T0 + 9 * H)
    assert marks_due(resumed, T0 + 11 * H) == Marks(T0 + 10 * H)


def test_stop_while_paused_uses_pause_instant() -> None:
    c = pause(clock10h(), T0 + 9 * H)
    assert final_marks_on_stop(c, T0 + 30 * H) == Marks(T0 + 8 * H)


def test_documents_pending_round_trip_matches_spec_example() -> None:
    # initial_review 72 h: paused 24 h by documents_requested, decided 90 h after start.
    c = start_clock(T0, 72 * H, Decimal("0.8"))
    c = resume(pause(c, T0 + 10 * H), T0 + 34 * H)
    assert c.due_at == T0 + 96 * H
    assert final_marks_on_stop(c, T0 + 90 * H) == Marks(T0 + (57.6 + 24) * H)


def test_warn_offset_is_exact() -> None:
    assert warn_offset(4 * H, Decimal("0.8")) == timedelta(hours=3, minutes=12)
    assert warn_offset(timedelta(microseconds=10), Decimal("0.333")) == 3 * US  # floored


def test_stop_records_the_stop_and_closes_an_open_pause() -> None:
    c = stop(pause(clock10h(), T0 + 9 * H), T0 + 12 * H)
    assert (c.stopped_at, c.paused, c.paused_total) == (T0 + 12 * H, False, 3 * H)
    assert (c.marks, c.due_at) == (Marks(T0 + 8 * H), T0 + 13 * H)
    assert stop(c, T0 + H) == c  # a stopped clock stays as it is
    assert pause(c, T0 + 20 * H) == c
    assert resume(c, T0 + 20 * H) == c
    assert stop(clock10h(), T0 - H).stopped_at == T0  # never before the start


def test_stop_takes_back_a_breach_seen_early() -> None:
    swept = sweep(clock10h(), T0 + 11 * H)
    assert (swept.breached_at, swept.breach_seen_at) == (T0 + 10 * H, T0 + 11 * H)
    assert sweep(swept, T0 + 12 * H) == swept  # recorded once
    on_time = stop(swept, T0 + 10 * H)
    assert (on_time.warned_at, on_time.breached_at, on_time.breach_seen_at) == (
        T0 + 8 * H, None, None)
    assert stop(swept, T0 + 10 * H + US).breach_seen_at == T0 + 11 * H


def test_stop_earliest_moves_back_only_a_never_paused_clock() -> None:
    late = stop(sweep(clock10h(), T0 + 11 * H), T0 + 11 * H)
    early = stop_earliest(late, T0 + 9 * H)
    assert (early.stopped_at, early.marks, early.breach_seen_at) == (
        T0 + 9 * H, Marks(T0 + 8 * H), None)
    assert stop_earliest(early, T0 + 10 * H) == early  # a later one changes nothing
    paused = stop(resume(pause(clock10h(), T0 + H), T0 + 2 * H), T0 + 11 * H)
    assert stop_earliest(paused, T0 + 5 * H) == paused
    assert stop_earliest(clock10h(), T0 + 5 * H) == stop(clock10h(), T0 + 5 * H)


def test_extend_keeps_reached_marks() -> None:
    c = extend(sweep(clock10h(), T0 + 9 * H), T0 + 9 * H, 30 * H, 24 * H)
    assert (c.warned_at, c.warn_at, c.due_at) == (T0 + 8 * H, T0 + 24 * H, T0 + 30 * H)
    ahead = extend(sweep(clock10h(), T0 + 9 * H), T0 + 7 * H, 30 * H, 24 * H)
    assert ahead.warned_at is None  # the sweeper was ahead of the data: recomputed
    assert sweep(ahead, T0 + 25 * H).warned_at == T0 + 24 * H


def test_apply_op_dispatches_on_the_kind() -> None:
    start = ClockOp(ClockOpKind.START, "case", "C", "dispatch", T0, 10 * H, 8 * H)
    c = apply_op(None, start)
    assert c == clock10h()
    assert apply_op(c, start) == c
    assert apply_op(None, ClockOp("stop", "case", "C", "dispatch", T0)) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ClockOp(ClockOpKind.START, "case", "C", "dispatch", T0, 10 * H, 11 * H)


# --- v2: a new window on extension (complaints, SPEC §4.7) ---------------------------------

from dataclasses import replace  # noqa: E402


def test_extend_keeps_reached_marks_and_recomputes_unreached() -> None:
    t0 = T0
    day = timedelta(days=1)
    times = start_clock(t0, 15 * day, Decimal("0.8"))
    # warn (day 12) reached before the extension on day 13: it stays at its instant
    late = extend(times, t0 + 13 * day, 30 * day)
    assert late.warned_at == t0 + 12 * day and late.due_at == t0 + 30 * day
    assert late.warn_at == t0 + 24 * day and late.breached_at is None
    # extension before the warning: nothing reached, both marks on the new window
    early = extend(times, t0 + 5 * day, 30 * day)
    assert early.warned_at is None and marks_due(early, t0 + 24 * day + timedelta(seconds=1)) \
        == Marks(t0 + 24 * day, None)
    # a mark the sweeper set ahead of the data is taken back
    ahead = extend(replace(times, warned_at=t0 + 12 * day), t0 + 11 * day, 30 * day)
    assert ahead.warned_at is None
    # exactly at the warn instant: not reached (strictly before only)
    assert extend(times, t0 + 12 * day, 30 * day).warned_at is None
