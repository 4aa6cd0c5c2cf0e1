"""The handlers' queue drain (a performance change, issue 6) decides exactly as
``workers.rules.routing.drain_queue``: same assignments, same order, same reasons."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from workers.handlers.routing import drain_assignable
from workers.rules.routing import Adjuster, DispatchRequest, drain_queue

T0 = datetime(2025, 1, 6, tzinfo=UTC)
SKILLS = ["auto", "property", "cargo", "heavy_vehicle"]
PLACES = {"广东省": ["深圳市", "广州市", "佛山市"], "浙江省": ["杭州市", "宁波市"]}


def _roster(rng: random.Random) -> list[Adjuster]:
    out = []
    for n in range(rng.randint(0, 12)):
        province = rng.choice(list(PLACES))
        cities = set(rng.sample(PLACES[province], rng.randint(1, 2)))
        if rng.random() < 0.1:  # serves a city of another province
            cities.add(rng.choice(PLACES["浙江省" if province == "广东省" else "广东省"]))
        capacity = rng.randint(0, 4)
        out.append(Adjuster(
            f"ADJ-{n:03d}", province, frozenset(cities),
            frozenset(rng.sample(SKILLS, rng.randint(1, 3))), capacity,
            active=rng.random() > 0.1, load=rng.randint(0, capacity),
            last_assigned_at=None if rng.random() < 0.3
            else T0 - timedelta(minutes=rng.randint(1, 500))))
    return out


def _queue(rng: random.Random) -> list[DispatchRequest]:
    out = []
    for n in range(rng.randint(0, 40)):
        province = rng.choice(list(PLACES))
        out.append(DispatchRequest(
            f"D-{n:04d}", rng.choice(SKILLS), province, rng.choice(PLACES[province]),
            rng.choice(["normal", "urgent"]), T0 - timedelta(minutes=rng.randint(0, 300)),
            rng.choice([None, None, f"ADJ-{rng.randint(0, 12):03d}"])))
    return out


@pytest.mark.parametrize("seed", range(300))
def test_handlers_drain_equals_the_rule(seed: int) -> None:
    rng = random.Random(seed)
    roster, queue = _roster(rng), _queue(rng)
    by_id = {a.adjuster_id: a for a in roster}
    assert drain_assignable(queue, by_id, T0) == drain_queue(queue, roster, T0)
    assert by_id == {a.adjuster_id: a for a in roster}  # the caller's roster is untouched
