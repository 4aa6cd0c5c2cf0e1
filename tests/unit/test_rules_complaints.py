"""Complaint owner, deadline, merging and group-complaint detection."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from workers.rules.complaints import (
    COMPLAINT_DESK,
    ComplaintFact,
    ComplaintRef,
    GroupComplaintHit,
    complaint_due_at,
    complaint_owner,
    group_complaints,
    should_merge,
)
from workers.rules.policy import Policy

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 22, 10, 14, tzinfo=CST)
H = timedelta(hours=1)
P = Policy()


@pytest.mark.parametrize(
    ("against", "owner"),
    [("ADJ-GD-0042", "ADJ-GD-0042"), (None, COMPLAINT_DESK), ("", COMPLAINT_DESK)],
)
def test_owner(against: str | None, owner: str) -> None:
    assert complaint_owner(against) == owner


def test_due_at_is_fifteen_days_of_elapsed_time() -> None:
    assert complaint_due_at(T0, P) == datetime(2026, 12, 7, 10, 14, tzinfo=CST)
    assert complaint_due_at(T0, P) - T0 == timedelta(hours=360)


def ref(cid: str, case: str | None, category: str = "delay", at: datetime = T0) -> ComplaintRef:
    return ComplaintRef(cid, case, category, at)


OPEN = [
    ref("CP-2", "C-1", "delay", T0 - H),
    ref("CP-1", "C-1", "delay", T0 - 2 * H),
    ref("CP-3", "C-1", "amount_dispute"),
    ref("CP-4", None, "delay"),
    ref("CP-5", "C-2", "delay"),
]


@pytest.mark.parametrize(
    ("new", "into"),
    [
        (ref("CP-9", "C-1", "delay"), "CP-1"),  # oldest matching open complaint
        (ref("CP-9", "C-1", "amount_dispute"), "CP-3"),
        (ref("CP-9", "C-1", "privacy"), None),  # other category
        (ref("CP-9", "C-3", "delay"), None),  # other case
        (ref("CP-9", None, "delay"), None),  # no case: never merged
        (ref("CP-5", "C-2", "delay"), None),  # itself (a duplicate, not a merge)
    ],
)
def test_should_merge(new: ComplaintRef, into: str | None) -> None:
    assert should_merge(new, OPEN) == into


def test_merge_tie_on_filed_at_uses_id() -> None:
    same = [ref("CP-B", "C-1"), ref("CP-A", "C-1")]
    assert should_merge(ref("CP-Z", "C-1"), same) == "CP-A"


def fact(
    minutes_ago: int,
    adjuster: str | None = "ADJ-1",
    insurer: str = "PICC",
    case: str | None = "C-1",
    city: str | None = "深圳市",
) -> ComplaintFact:
    return ComplaintFact(T0 - timedelta(minutes=minutes_ago), insurer, adjuster, case, city)


ADJ = (("adjuster_id", "ADJ-1"),)
CITY = (("city", "深圳市"), ("insurer", "PICC"))


@pytest.mark.parametrize(
    ("facts", "hits"),
    [
        ([fact(i) for i in range(4)], []),
        ([fact(i) for i in range(5)], [(ADJ, 5), (CITY, 5)]),
        # the window is (at - 24 h, at]: exactly 24 h ago is out, the future is out
        ([fact(i) for i in range(4)] + [fact(24 * 60)], []),
        ([fact(i) for i in range(4)] + [fact(24 * 60 - 1)], [(ADJ, 5), (CITY, 5)]),
        ([fact(i) for i in range(4)] + [fact(-1)], []),
        # complaints without a case count per adjuster only
        ([fact(i, case=None, city=None) for i in range(5)], [(ADJ, 5)]),
        # case known but city not (case not arrived yet): adjuster only
        ([fact(i, city=None) for i in range(5)], [(ADJ, 5)]),
        # no adjuster named: (insurer, city) only
        ([fact(i, adjuster=None) for i in range(5)], [(CITY, 5)]),
        # spread over adjusters but one city
        ([fact(i, adjuster=f"ADJ-{i}") for i in range(6)], [(CITY, 6)]),
        # one adjuster across insurers and cities
        ([fact(i, insurer=f"INS-{i}") for i in range(5)], [(ADJ, 5)]),
    ],
)
def test_group_complaints(
    facts: list[ComplaintFact], hits: list[tuple[tuple[tuple[str, str], ...], int]]
) -> None:
    assert group_complaints(facts, T0, P) == [GroupComplaintHit(s, n) for s, n in hits]


def test_group_hit_scope_dict() -> None:
    hit = group_complaints([fact(i, adjuster=None) for i in range(5)], T0, P)[0]
    assert hit.scope_dict() == {"city": "深圳市", "insurer": "PICC"}


# --- v2: extensions (SPEC §4.7) ---------------------------------------------------------

from workers.rules.complaints import (  # noqa: E402
    EXTENSION_LIMIT,
    LATE_EXTENSION,
    decide_extension,
)

D = timedelta(days=1)


def test_first_extension_sets_thirty_days_from_filing_second_sixty() -> None:
    first = decide_extension(T0, T0 + 15 * D, 0, T0 + 10 * D)
    assert first.accepted and first.window == 30 * D and first.due_at == T0 + 30 * D
    second = decide_extension(T0, T0 + 30 * D, 1, T0 + 29 * D)
    assert second.accepted and second.due_at == T0 + 60 * D


def test_extension_at_or_after_due_is_late() -> None:
    assert decide_extension(T0, T0 + 15 * D, 0, T0 + 15 * D).refusal == LATE_EXTENSION
    just_before = T0 + 15 * D - timedelta(microseconds=1)
    assert decide_extension(T0, T0 + 15 * D, 0, just_before).accepted


def test_third_extension_is_refused_even_when_late() -> None:
    assert decide_extension(T0, T0 + 60 * D, 2, T0 + 20 * D).refusal == EXTENSION_LIMIT
    assert decide_extension(T0, T0 + 60 * D, 2, T0 + 70 * D).refusal == EXTENSION_LIMIT
