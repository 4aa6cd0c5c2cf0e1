"""The paged queue drain against Postgres decides exactly as ``rules.routing.drain_queue``.

``workers.handlers.routing.drain`` reads the queue in pages in SQL queue order and stops
once nobody has free capacity (a performance change, issue 6). Random rosters and queues
— ids whose code-point order differs from a linguistic collation, equal request times,
urgent and normal — are drained with a tiny page, so most drains cross several pages, and
the rows written are compared with the pure rule on the same data.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from topics import TopicNames
from workers.context import HandlerContext
from workers.handlers import routing
from workers.rules.routing import Adjuster, DispatchRequest, drain_queue
from workers.store.effects import Effects

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 6, tzinfo=UTC)
SKILLS = ["auto", "property"]
CITIES = ["深圳市", "广州市"]
IDS = ["D-a", "D-B", "d-c", "D-10", "D-9", "Ω-1", "é-2", "D_x", "D-ä", "Z-0"]


def _roster(rng: random.Random) -> list[Adjuster]:
    return [
        Adjuster(f"ADJ-{n}", "广东省", frozenset(rng.sample(CITIES, rng.randint(1, 2))),
                 frozenset(rng.sample(SKILLS, rng.randint(1, 2))), rng.randint(0, 3),
                 active=rng.random() > 0.1, load=0,
                 last_assigned_at=T0 - timedelta(minutes=rng.randint(1, 50)))
        for n in range(rng.randint(1, 5))
    ]


def _queue(rng: random.Random) -> list[DispatchRequest]:
    ids = [f"{rng.choice(IDS)}-{n}" for n in range(rng.randint(0, 30))]
    return [
        DispatchRequest(i, rng.choice(SKILLS), "广东省", rng.choice(CITIES),
                        rng.choice(["normal", "urgent"]),
                        T0 - timedelta(minutes=rng.choice([0, 0, 5, 10, 60])), None)
        for i in ids
    ]


def _seed_rows(conn: psycopg.Connection, roster: list[Adjuster],
               queue: list[DispatchRequest]) -> None:
    for a in roster:
        conn.execute(
            "INSERT INTO adjusters (adjuster_id, name_masked, province, cities, skills, capacity,"
            " active, last_assigned_at) VALUES (%s, '*', %s, %s, %s, %s, %s, %s)",
            (a.adjuster_id, a.province, sorted(a.cities), sorted(a.skills), a.capacity,
             a.active, a.last_assigned_at))
    for r in queue:
        conn.execute(
            "INSERT INTO dispatches (dispatch_id, case_id, skill, province, city, urgency,"
            " requested_at, status, survey_due_by) VALUES (%s, 'C-1', %s, %s, %s, %s, %s,"
            " 'queued', %s)",
            (r.dispatch_id, r.skill, r.province, r.city, r.urgency, r.requested_at,
             r.requested_at + timedelta(hours=4)))


async def _drain(dsn: str, at: datetime) -> int:
    ctx = HandlerContext(names=TopicNames(), clock=lambda: at)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        n = await routing.drain(conn, {"广东省"}, at, ctx, Effects())
        await conn.commit()
        return n


@pytest.mark.parametrize("seed", range(12))
def test_paged_drain_equals_the_rule(dsn: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "DRAIN_PAGE", 2)
    rng = random.Random(seed)
    roster, queue = _roster(rng), _queue(rng)
    at = T0 + timedelta(minutes=1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _seed_rows(conn, roster, queue)
    expected = drain_queue(queue, roster, at)

    assert asyncio.run(_drain(dsn, at)) == len(expected)

    with psycopg.connect(dsn) as conn:
        got = dict(conn.execute(
            "SELECT dispatch_id, adjuster_id FROM dispatches WHERE status = 'assigned'").fetchall())
        stamped = {r[0] for r in conn.execute(
            "SELECT adjuster_id FROM adjusters WHERE last_assigned_at = %s", (at,)).fetchall()}
    assert got == {i: d.adjuster_id for i, d in expected}
    assert stamped == {d.adjuster_id for _, d in expected}
