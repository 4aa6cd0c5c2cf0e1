"""The report's worst-first ranking of adjusters and its reasons."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from workers.rules.scorecard import ScoreRow, rank_worst_first, reasons

CLEAN = ScoreRow("ADJ-1", "李*", dispatches_assigned=10, surveys_completed=10, surveys_unable=0,
                 surveys_on_time=10, survey_on_time_rate=Decimal("1"), complaints=0,
                 complaints_upheld=0, callbacks_reached=4, satisfaction_avg=Decimal("4.50"),
                 dissatisfied=0, praise=1, reports=0)


def test_a_clean_month_has_no_reason() -> None:
    assert reasons(CLEAN) == []


def test_reasons_name_each_problem_most_serious_first() -> None:
    bad = replace(CLEAN, adjuster_id="ADJ-2", surveys_on_time=6, survey_on_time_rate=Decimal("0.6"),
                  complaints=2, complaints_upheld=1, satisfaction_avg=Decimal("2.75"),
                  dissatisfied=2, reports=1)
    assert reasons(bad) == ["1 misconduct report(s) 举报", "1 upheld complaint(s)",
                            "satisfaction 2.75 < 3.50", "2 dissatisfied callback(s)",
                            "on time 60% < 90%", "2 complaint(s) filed"]


def test_small_samples_and_untracked_callbacks_give_no_rate_reason() -> None:
    few = replace(CLEAN, surveys_completed=2, surveys_on_time=0, survey_on_time_rate=Decimal(0),
                  callbacks_reached=None, satisfaction_avg=None, dissatisfied=None, praise=None,
                  reports=None)
    assert reasons(few) == []


def test_worst_first_then_reasons_then_id() -> None:
    late = replace(CLEAN, adjuster_id="ADJ-3", surveys_on_time=7, survey_on_time_rate=Decimal("0.7"))
    upheld = replace(CLEAN, adjuster_id="ADJ-4", complaints=1, complaints_upheld=1)
    report = replace(CLEAN, adjuster_id="ADJ-5", reports=1)
    twin = replace(late, adjuster_id="ADJ-0")
    order = [r.row.adjuster_id for r in rank_worst_first([CLEAN, late, upheld, report, twin])]
    # penalties: report 5-1=4, upheld 3+1-1=3, late 3-1=2 (twins by id), clean -1
    assert order == ["ADJ-5", "ADJ-4", "ADJ-0", "ADJ-3", "ADJ-1"]
