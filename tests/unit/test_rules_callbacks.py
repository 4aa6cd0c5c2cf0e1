"""Callbacks (SPEC §4.10): deterministic sampling (the SPEC's test vectors), mandatory
callbacks, and the result of a set of attempts in any order."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from workers.rules.callbacks import (
    MANDATORY,
    SAMPLED,
    Attempt,
    callback_result,
    closing_callback,
    complaint_callback,
    dispatch_callback,
    is_sampled,
    sample_bucket,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=CST)
H = timedelta(hours=1)
W = 48 * H


def test_spec_test_vectors() -> None:
    assert sample_bucket("dispatch", "D-000123-1") == 0xF92AC09B % 100 == 3
    assert is_sampled("dispatch", "D-000123-1", 20)
    assert sample_bucket("closing", "C-PICC-2026-000123") == 0x1EEF8BDB % 100 == 87
    assert not is_sampled("closing", "C-PICC-2026-000123", 30)


def test_sampling_rate_is_close_to_the_percentage() -> None:
    drawn = sum(is_sampled("dispatch", f"D-{n:06d}-1", 20) for n in range(5000))
    assert 900 < drawn < 1100


def test_dispatch_callback_needs_an_adjuster_and_the_draw() -> None:
    req = dispatch_callback("D-000123-1", "C-1", "ADJ-1", T0, 20, W)
    assert req is not None and req.reason == SAMPLED and req.due_by == T0 + W
    assert req.adjuster_id == "ADJ-1" and req.dispatch_id == "D-000123-1"
    assert dispatch_callback("D-000123-1", "C-1", None, T0, 20, W) is None
    assert dispatch_callback("D-000123-1", "C-1", "ADJ-1", T0, 3, W) is None  # bucket 3 ≥ 3


def test_closing_callback_mandatory_for_rejection_or_complaint_by_the_closing_instant() -> None:
    case = "C-PICC-2026-000123"  # not drawn at 30 %
    assert closing_callback(case, T0, False, [], "A", 30, W) is None
    assert closing_callback(case, T0, True, [], "A", 30, W).reason == MANDATORY  # type: ignore[union-attr]
    on_time = closing_callback(case, T0, False, [T0], "A", 30, W)
    assert on_time is not None and on_time.reason == MANDATORY and on_time.requested_at == T0
    assert closing_callback(case, T0, False, [T0 + H], "A", 30, W) is None  # filed after
    assert closing_callback(case, T0, False, [], "A", 88, W).reason == SAMPLED  # type: ignore[union-attr]


def test_complaint_callback_is_always_mandatory() -> None:
    req = complaint_callback("CP-1", None, "ADJ-9", T0, W)
    assert (req.reason, req.case_id, req.complaint_id, req.adjuster_id) == (
        MANDATORY, None, "CP-1", "ADJ-9")


A1U = Attempt(1, "unreachable", T0)
A2R = Attempt(2, "reached", T0 + H, satisfaction=2)
A3R = Attempt(3, "reached", T0 + 2 * H, satisfaction=5)
A3U = Attempt(3, "unreachable", T0 + 2 * H)


@pytest.mark.parametrize(
    ("attempts", "status", "result", "stop", "after"),
    [
        ([], "requested", None, None, ()),
        ([A1U], "requested", None, None, ()),
        ([A1U, A2R], "reached", 2, T0 + H, ()),
        ([A1U, A2R, A3R], "reached", 2, T0 + H, (3,)),
        ([A1U, Attempt(2, "unreachable", T0 + H), A3U], "unreachable", None, T0 + 2 * H, ()),
        ([A3U], "unreachable", None, T0 + 2 * H, ()),
        ([Attempt(1, "refused", T0), A2R], "refused", 1, T0, (2,)),
    ],
)
def test_result_is_the_lowest_reached_or_refused_attempt_in_any_order(
    attempts: list[Attempt], status: str, result: int | None, stop: datetime | None,
    after: tuple[int, ...],
) -> None:
    for order in itertools.permutations(attempts):
        r = callback_result(order)
        assert r.status == status and r.stopped_at == stop and r.after_result == after
        assert (r.result.attempt if r.result else None) == result


def test_dissatisfied_is_satisfaction_two_or_less() -> None:
    assert callback_result([A2R]).dissatisfied
    assert not callback_result([A3R]).dissatisfied
    assert not callback_result([A1U]).dissatisfied


def test_satisfaction_alert_needs_five_reached_and_forty_percent_dissatisfied() -> None:
    from workers.rules.callbacks import satisfaction_hits

    at = T0 + 7 * 24 * H
    bad = [("A", T0 + n * H, 1 if n < 3 else 5) for n in range(1, 6)]  # 2 of 5 = 40 %
    good = [("B", T0 + n * H, 1 if n < 3 else 5) for n in range(1, 7)]
    assert [(h.adjuster_id, h.reached, h.dissatisfied) for h in satisfaction_hits(bad, at)] \
        == [("A", 5, 2)]
    assert [h.adjuster_id for h in satisfaction_hits(good, at)] == []  # 2 of 6 < 40 %
    assert satisfaction_hits(bad[:4], at) == []  # only 4 reached
    # the window is the last 7 days of completed_at: (at − 7 d, at]
    assert satisfaction_hits(bad, at + H) == []


def test_cancellation_counts_only_attempts_before_it() -> None:
    cancel = T0 + 30 * timedelta(minutes=1)  # between attempt 1 (T0) and attempt 2 (T0 + H)
    for order in itertools.permutations([A1U, A2R]):
        r = callback_result(order, cancelled_at=cancel)
        assert (r.status, r.result, r.stopped_at) == ("cancelled", None, cancel)
    r = callback_result([A1U, A2R], cancelled_at=T0 + 2 * H)
    assert r.status == "reached" and r.result == A2R
    assert callback_result([], cancelled_at=T0).status == "cancelled"
