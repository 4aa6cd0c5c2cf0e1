"""The ``satisfaction`` alert (SPEC §4.10): ≥ 5 reached callbacks about one adjuster in the
last 7 days of completed_at, ≥ 40 % dissatisfied; checked with the other health checks."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.integration import builders as b
from tests.integration.inproc import FakeClock, context
from workers.monitor.loop import check_once

pytestmark = pytest.mark.integration
EVERY = timedelta(seconds=30)
H = timedelta(hours=1)


def test_satisfaction_alert_opens_for_the_adjuster_and_resolves(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        for n, (adjuster, score) in enumerate(
                [("A", 1), ("A", 2), ("A", 5), ("A", 4), ("A", 5),  # 2 of 5: 40 %
                 ("B", 1), ("B", 1), ("B", 1), ("B", 1)]):  # only 4 reached
            at = b.T0 + n * H
            conn.execute(
                "INSERT INTO callbacks (callback_id, kind, case_id, adjuster_id, reason, status,"
                " requested_at, due_by, enqueued, satisfaction, completed_at, result_attempt)"
                " VALUES (%s, 'dispatch', 'C-1', %s, 'sampled', 'reached', %s, %s, true, %s,"
                " %s, 1)", (f"cb-{n}", adjuster, at, at + 48 * H, score, at))

    async def checks() -> None:
        clock = FakeClock(b.T0 + 10 * H)
        ctx = context(clock)
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await pool.open()
        try:
            await check_once(pool, clock.now, ctx, EVERY, force=True)
            clock.now += timedelta(days=7)  # the callbacks leave the 7-day window
            for _ in range(2):
                clock.now += EVERY
                await check_once(pool, clock.now, ctx, EVERY, force=True)
        finally:
            await pool.close()

    asyncio.run(checks())
    with psycopg.connect(dsn) as conn:
        values = [json.loads(bytes(r[0])) for r in conn.execute(
            "SELECT value FROM outbox WHERE topic = 'alerts' ORDER BY seq").fetchall()]
    events = [(v["type"], v["data"]["kind"], v["data"]["scope"]) for v in values]
    assert events == [("alert.opened", "satisfaction", {"adjuster_id": "A"}),
                      ("alert.resolved", "satisfaction", {"adjuster_id": "A"})]
