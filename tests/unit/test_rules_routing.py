"""Dispatch routing: eligibility, fallback, preference, tie-breaks, queue draining."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from workers.rules.routing import (
    Adjuster,
    DispatchRequest,
    RouteDecision,
    drain_queue,
    queue_order_key,
    route_dispatch,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 6, tzinfo=CST)

# contract/examples/roster.sample.csv
ROSTER = (
    Adjuster(
        "ADJ-GD-0042",
        "广东省",
        frozenset({"深圳市", "东莞市"}),
        frozenset({"auto", "heavy_vehicle"}),
        6,
    ),
    Adjuster("ADJ-GD-0043", "广东省", frozenset({"深圳市"}), frozenset({"auto", "property"}), 5),
    Adjuster(
        "ADJ-GD-0050",
        "广东省",
        frozenset({"广州市", "佛山市"}),
        frozenset({"property", "cargo", "liability"}),
        4,
    ),
    Adjuster(
        "ADJ-ZJ-0007",
        "浙江省",
        frozenset({"杭州市", "宁波市"}),
        frozenset({"auto", "property", "agriculture"}),
        6,
    ),
    Adjuster(
        "ADJ-ZJ-0011",
        "浙江省",
        frozenset({"温州市"}),
        frozenset({"auto", "health"}),
        3,
        active=False,
    ),
)


def req(
    city: str = "深圳市",
    skill: str = "auto",
    province: str = "广东省",
    preferred: str | None = None,
    urgency: str = "urgent",
    dispatch_id: str = "D-1",
    requested_at: datetime = T0,
) -> DispatchRequest:
    return DispatchRequest(dispatch_id, skill, province, city, urgency, requested_at, preferred)


def with_changes(changes: Mapping[str, Mapping[str, Any]]) -> list[Adjuster]:
    """The sample roster with per-adjuster field changes."""
    return [replace(a, **changes.get(a.adjuster_id, {})) for a in ROSTER]


def test_sample_dispatch_matches_contract_reason() -> None:
    decision = route_dispatch(req(), ROSTER)
    assert decision == RouteDecision(
        "ADJ-GD-0042", "深圳市 auto: load 0/6, never assigned, lowest id among 2 eligible"
    )


@pytest.mark.parametrize(
    ("changes", "request_", "expected_id", "reason_part"),
    [
        # lowest load ratio: 1/6 < 1/5 (exact rational compare)
        (
            {"ADJ-GD-0042": {"load": 1}, "ADJ-GD-0043": {"load": 1}},
            req(),
            "ADJ-GD-0042",
            "lowest load among 2",
        ),
        (
            {"ADJ-GD-0042": {"load": 2}, "ADJ-GD-0043": {"load": 1}},
            req(),
            "ADJ-GD-0043",
            "load 1/5",
        ),
        # equal ratio 3/6 == 2/4 after capacity change: longest since last assignment
        (
            {
                "ADJ-GD-0042": {"load": 3, "last_assigned_at": T0 - timedelta(hours=1)},
                "ADJ-GD-0043": {
                    "load": 2,
                    "capacity": 4,
                    "last_assigned_at": T0 - timedelta(hours=2),
                },
            },
            req(),
            "ADJ-GD-0043",
            "longest since last assignment among 2",
        ),
        # never assigned beats any assignment
        (
            {"ADJ-GD-0042": {"last_assigned_at": T0 - timedelta(days=30)}},
            req(),
            "ADJ-GD-0043",
            "never assigned, longest since last assignment",
        ),
        # same ratio, same instant: lowest id
        (
            {"ADJ-GD-0042": {"last_assigned_at": T0}, "ADJ-GD-0043": {"last_assigned_at": T0}},
            req(),
            "ADJ-GD-0042",
            "lowest id among 2",
        ),
        # capacity full
        ({"ADJ-GD-0042": {"load": 6}}, req(), "ADJ-GD-0043", "only eligible"),
        # inactive
        ({"ADJ-GD-0043": {"active": False}}, req(), "ADJ-GD-0042", "only eligible"),
        # skill
        ({}, req(skill="heavy_vehicle"), "ADJ-GD-0042", "only eligible"),
        ({}, req(city="东莞市"), "ADJ-GD-0042", "东莞市 auto: load 0/6"),
    ],
)
def test_ranking(
    changes: dict[str, dict[str, object]],
    request_: DispatchRequest,
    expected_id: str,
    reason_part: str,
) -> None:
    decision = route_dispatch(request_, with_changes(changes))
    assert decision.adjuster_id == expected_id
    assert reason_part in decision.reason


@pytest.mark.parametrize(
    ("changes", "request_", "expected_id", "reason_part"),
    [
        # nobody in 广州市 has auto: province fallback to 深圳 adjusters
        ({}, req(city="广州市"), "ADJ-GD-0042", "(none eligible in city, 广东省 fallback)"),
        # city adjuster exists but full: fallback
        ({}, req(city="佛山市", skill="property"), "ADJ-GD-0050", "佛山市 property: load 0/4"),
        (
            {"ADJ-GD-0050": {"load": 4}},
            req(city="佛山市", skill="property"),
            "ADJ-GD-0043",
            "广东省 fallback",
        ),
        # fallback never crosses provinces
        ({}, req(city="温州市", province="浙江省"), "ADJ-ZJ-0007", "浙江省 fallback"),
    ],
)
def test_city_then_province(
    changes: dict[str, dict[str, object]],
    request_: DispatchRequest,
    expected_id: str,
    reason_part: str,
) -> None:
    decision = route_dispatch(request_, with_changes(changes))
    assert decision.adjuster_id == expected_id
    assert reason_part in decision.reason


@pytest.mark.parametrize(
    ("changes", "request_"),
    [
        ({}, req(city="拉萨市", province="西藏自治区")),
        ({}, req(skill="health")),
        ({"ADJ-GD-0042": {"load": 6}, "ADJ-GD-0043": {"load": 5}}, req()),
        ({"ADJ-GD-0042": {"active": False}}, req(skill="heavy_vehicle")),
        ({"ADJ-ZJ-0007": {"capacity": 0}}, req(city="杭州市", province="浙江省")),
    ],
)
def test_queued(changes: dict[str, dict[str, object]], request_: DispatchRequest) -> None:
    decision = route_dispatch(request_, with_changes(changes))
    assert decision.queued
    assert decision.reason.endswith(
        f"queued, no eligible adjuster in {request_.city} or {request_.province}"
    )


@pytest.mark.parametrize(
    ("changes", "preferred", "expected_id", "reason_part"),
    [
        (
            {"ADJ-GD-0043": {"load": 4}},
            "ADJ-GD-0043",
            "ADJ-GD-0043",
            "preferred adjuster, load 4/5",
        ),
        ({"ADJ-GD-0043": {"load": 5}}, "ADJ-GD-0043", "ADJ-GD-0042", "(preferred adjuster not"),
        ({"ADJ-GD-0043": {"active": False}}, "ADJ-GD-0043", "ADJ-GD-0042", "not eligible"),
        ({}, "ADJ-GD-0050", "ADJ-GD-0042", "not eligible"),  # lacks the skill
        ({}, "ADJ-ZJ-0007", "ADJ-GD-0042", "not eligible"),  # other province
        ({}, "ADJ-NOPE", "ADJ-GD-0042", "not eligible"),  # unknown id
    ],
)
def test_preferred_adjuster(
    changes: dict[str, dict[str, object]], preferred: str, expected_id: str, reason_part: str
) -> None:
    decision = route_dispatch(req(preferred=preferred), with_changes(changes))
    assert decision.adjuster_id == expected_id
    assert reason_part in decision.reason


def test_preferred_out_of_city_loses_to_city_adjuster() -> None:
    # ADJ-GD-0043 has property but not 东莞市; ADJ-GD-0042 is in the city.
    roster = with_changes({"ADJ-GD-0042": {"skills": frozenset({"property"})}})
    decision = route_dispatch(req(city="东莞市", skill="property", preferred="ADJ-GD-0043"), roster)
    assert decision.adjuster_id == "ADJ-GD-0042"


def test_preferred_wins_in_province_fallback() -> None:
    decision = route_dispatch(req(city="广州市", preferred="ADJ-GD-0043"), ROSTER)
    assert decision.adjuster_id == "ADJ-GD-0043"
    assert "preferred adjuster" in decision.reason


def test_reason_has_no_names() -> None:
    assert "李强" not in route_dispatch(req(), ROSTER).reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("urgent", T0 + timedelta(hours=1), "D-9"), ("normal", T0, "D-1")),
        (("normal", T0, "D-9"), ("normal", T0 + timedelta(seconds=1), "D-1")),
        (("normal", T0, "D-1"), ("normal", T0, "D-2")),
        # same instant in another offset compares by absolute time
        (("normal", datetime(2026, 11, 21, 0, 5, tzinfo=UTC), "D-2"), ("normal", T0, "D-1")),
    ],
)
def test_queue_order_key(a: tuple[str, datetime, str], b: tuple[str, datetime, str]) -> None:
    assert queue_order_key(*a) < queue_order_key(*b)


def test_drain_queue_order_and_capacity() -> None:
    roster = with_changes({"ADJ-GD-0042": {"load": 5}, "ADJ-GD-0043": {"load": 4}})
    queued = [
        req(dispatch_id="D-normal-early", urgency="normal", requested_at=T0),
        req(dispatch_id="D-urgent-late", urgency="urgent", requested_at=T0 + timedelta(hours=2)),
        req(dispatch_id="D-urgent-early", urgency="urgent", requested_at=T0 + timedelta(hours=1)),
        req(dispatch_id="D-hz", city="杭州市", province="浙江省", requested_at=T0),
    ]
    assigned = drain_queue(queued, roster, T0 + timedelta(hours=3))
    assert [(d, r.adjuster_id) for d, r in assigned] == [
        ("D-hz", "ADJ-ZJ-0007"),  # urgent, earliest
        ("D-urgent-early", "ADJ-GD-0043"),  # 4/5 < 5/6
        ("D-urgent-late", "ADJ-GD-0042"),  # 0043 now full
    ]  # D-normal-early stays queued: 深圳 is full


def test_drain_queue_spreads_load_and_uses_decided_at() -> None:
    queued = [req(dispatch_id=f"D-{i}", requested_at=T0 + timedelta(minutes=i)) for i in range(4)]
    assigned = drain_queue(queued, ROSTER, T0)
    assert [r.adjuster_id for _, r in assigned] == [
        "ADJ-GD-0042",
        "ADJ-GD-0043",
        "ADJ-GD-0042",
        "ADJ-GD-0043",
    ]
    assert "longest since last assignment" not in assigned[1][1].reason
    assert "last assigned 2026-11-21T08:06:00+08:00" in assigned[2][1].reason


def test_drain_queue_never_exceeds_capacity() -> None:
    queued = [req(dispatch_id=f"D-{i:02d}") for i in range(20)]
    assigned = drain_queue(queued, ROSTER, T0)
    per = {
        aid: sum(1 for _, r in assigned if r.adjuster_id == aid)
        for aid in ("ADJ-GD-0042", "ADJ-GD-0043")
    }
    assert per == {"ADJ-GD-0042": 6, "ADJ-GD-0043": 5}
    assert len(assigned) == 11


def test_drain_empty_queue() -> None:
    assert drain_queue([], ROSTER, T0) == []
