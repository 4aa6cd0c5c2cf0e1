"""Re-routing on roster load (SPEC §4.2 v2): dispatches of adjusters who left or became
inactive rejoin the queue with their original urgency and requested_at, the queue drains in
queue order, each is announced ``reassigned`` (``:<n>`` ids), the survey clock keeps running,
and load never exceeds capacity — with several workers at once too."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.db import unit_of_work
from schemas import dispatch_assigned_event_id
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.roster import RosterRow, replace_roster

pytestmark = pytest.mark.integration
WZ = {"city": "温州市", "province": "浙江省"}


def adj(adjuster_id: str, capacity: int = 1, active: bool = True,
        city: str = "温州市") -> RosterRow:
    return RosterRow(adjuster_id, "王芳", "浙江省", (city,), ("auto",), capacity, active)


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _assigned_events(dsn: str) -> list[dict[str, Any]]:
    return [json.loads(bytes(r[0])) for r in _rows(
        dsn, "SELECT value FROM outbox WHERE topic = 'dispatch-assigned' ORDER BY seq")]


async def _pool(dsn: str, size: int = 2) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=size, open=False)
    await pool.open()
    return pool


async def _load(pool: AsyncConnectionPool, rows: list[RosterRow], ctx: Any) -> int:
    async with unit_of_work(pool) as uow:
        n = await replace_roster(uow.conn, rows, ctx)
        await uow.commit()
    return n


def test_a_departed_adjusters_dispatches_rejoin_the_queue_in_queue_order(dsn: str) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(hours=1)))
        pool = await _pool(dsn)
        try:
            await _load(pool, [adj("A1"), adj("A2")], ctx)
            await apply(pool, "dispatch-requested", [
                b.dispatch("D1", "C1", **WZ, at=10, urgency="normal", preferred="A1"),
                b.dispatch("D2", "C2", **WZ, at=11, urgency="normal", preferred="A2"),
                b.dispatch("D3", "C3", **WZ, at=20, urgency="normal"),  # queued
                b.dispatch("D4", "C4", **WZ, at=30, urgency="urgent"),  # queued, first
            ], ctx)
            # A1 leaves, A2 becomes inactive, A3 joins with room for one
            assert await _load(pool, [adj("A2", active=False), adj("A3")], ctx) == 1
        finally:
            await pool.close()

    asyncio.run(scenario())
    # queue order: urgent D4 first, then by requested_at D1 (10), D2 (11), D3 (20)
    assert _rows(dsn, "SELECT dispatch_id, status, adjuster_id, urgency, requested_at"
                      " = %s::timestamptz FROM rm_dispatches ORDER BY 1", b.ts(10)) == [
        ("D1", "queued", None, "normal", True), ("D2", "queued", None, "normal", False),
        ("D3", "queued", None, "normal", False), ("D4", "assigned", "A3", "urgent", False)]
    events = [(e["data"]["dispatch_id"], e["data"]["status"], e["data"]["adjuster_id"], e["id"])
              for e in _assigned_events(dsn)]
    reassigned = [e for e in events if e[1] == "reassigned"]
    assert reassigned == [
        ("D1", "reassigned", None, dispatch_assigned_event_id("D1", "reassigned", None, 1)),
        ("D2", "reassigned", None, dispatch_assigned_event_id("D2", "reassigned", None, 1))]
    assert ("D4", "assigned", "A3", dispatch_assigned_event_id("D4", "assigned", "A3")) in events
    # the survey clocks keep running from the original requested_at
    assert _rows(dsn, "SELECT due_at = %s::timestamptz + interval '24 hours' FROM rm_sla_clocks"
                      " WHERE clock = 'survey' AND subject_id = 'D1'", b.ts(10)) == [(True,)]
    assert _rows(dsn, "SELECT count(*) FROM rm_sla_clocks WHERE clock = 'survey'"
                      " AND stopped_at IS NULL") == [(4,)]

    async def later() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(hours=2)))
        pool = await _pool(dsn)
        try:  # A3's survey of D4 frees it: D1 is next in the queue, assigned with ":1"
            await apply(pool, "review-completed", [
                b.review("R-S4", "C4", "survey", "completed", at=90, amount="100.00",
                         dispatch_id="D4")], ctx)
        finally:
            await pool.close()

    asyncio.run(later())
    assert _rows(dsn, "SELECT status, adjuster_id FROM rm_dispatches WHERE dispatch_id = 'D1'"
                 ) == [("assigned", "A3")]
    assert dispatch_assigned_event_id("D1", "assigned", "A3", 1) in {
        e["id"] for e in _assigned_events(dsn)}


def test_a_displaced_dispatch_taken_at_once_is_announced_reassigned_with_its_adjuster(
    dsn: str,
) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(hours=1)))
        pool = await _pool(dsn)
        try:
            await _load(pool, [adj("A1")], ctx)
            await apply(pool, "dispatch-requested", [b.dispatch("D1", "C1", **WZ, at=10)], ctx)
            await _load(pool, [adj("A2")], ctx)  # A1 leaves, A2 takes over
            await _load(pool, [adj("A1")], ctx)  # and back: a second re-routing, ":2"
        finally:
            await pool.close()

    asyncio.run(scenario())
    events = [(e["data"]["status"], e["data"]["adjuster_id"], e["id"])
              for e in _assigned_events(dsn)]
    assert events == [
        ("assigned", "A1", dispatch_assigned_event_id("D1", "assigned", "A1")),
        ("reassigned", "A2", dispatch_assigned_event_id("D1", "reassigned", "A2", 1)),
        ("reassigned", "A1", dispatch_assigned_event_id("D1", "reassigned", "A1", 2))]
    assert len({e[2] for e in events}) == 3  # a repeat of (status, adjuster) is a new event


def test_roster_loads_and_dispatches_from_several_workers_never_exceed_capacity(
    dsn: str,
) -> None:
    """Concurrent roster loads (adjusters leaving and coming back) and dispatch batches on
    separate connections: at the end, and after every load, no adjuster is over capacity,
    and every dispatch is either assigned to an adjuster of the final roster or queued."""
    rng = random.Random(13)
    everyone = [f"A{i}" for i in range(6)]

    def roster_version() -> list[RosterRow]:
        return [adj(a, capacity=rng.randint(1, 3), active=rng.random() > 0.2)
                for a in everyone if rng.random() > 0.3]

    rosters = [roster_version() for _ in range(8)]
    batches = [[b.dispatch(f"D{n}-{i}", f"C{n}-{i}", **WZ, at=n + i / 10,
                           urgency=rng.choice(["normal", "urgent"])) for i in range(5)]
               for n in range(8)]

    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(hours=1)))
        pool = await _pool(dsn, size=6)
        try:
            await _load(pool, rosters[0], ctx)

            async def loads() -> None:
                for r in rosters[1:]:
                    await _load(pool, r, ctx)

            async def dispatches() -> None:
                for batch in batches:
                    await apply(pool, "dispatch-requested", batch, ctx)

            await asyncio.gather(loads(), dispatches(), dispatches())
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _rows(dsn, "SELECT adjuster_id FROM rm_adjuster_load WHERE load > capacity") == []
    final = {r.adjuster_id for r in rosters[-1] if r.active}
    holders = {r[0] for r in _rows(dsn, "SELECT DISTINCT adjuster_id FROM rm_dispatches"
                                        " WHERE status = 'assigned'")}
    assert holders <= final
    # every re-routed dispatch was announced, once per re-routing
    counts = dict(_rows(dsn, "SELECT dispatch_id, reassigned FROM dispatches"))
    announced: dict[str, int] = {}
    for e in _assigned_events(dsn):
        if e["data"]["status"] == "reassigned":
            announced[e["data"]["dispatch_id"]] = announced.get(e["data"]["dispatch_id"], 0) + 1
    assert announced == {d: n for d, n in counts.items() if n}
    assert sum(counts.values()) > 0  # the scenario did re-route something
