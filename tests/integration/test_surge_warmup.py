"""v2 surge warm-up on a fresh schema (SPEC §4.5) and the history hold of ``up`` (§9)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.monitor.loop import check_once

pytestmark = pytest.mark.integration
EVERY = timedelta(seconds=30)
WZ = {"city": "温州市", "province": "浙江省"}


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _surge_events(dsn: str) -> list[tuple[str, str, Any]]:
    values = [json.loads(bytes(r[0])) for r in
              _rows(dsn, "SELECT value FROM outbox WHERE topic = 'alerts' ORDER BY seq")]
    return [(e["type"], e["data"]["severity"], e["data"]["scope"]) for e in values
            if e["data"]["kind"] == "surge"]


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    return pool


def test_a_fresh_schema_raises_no_surge_in_its_first_hour_then_judges_on_the_baseline(
    dsn: str,
) -> None:
    """25 cases a window in one city: a warning at B = 0 in v1, nothing while cold; after
    60 minutes the baseline is warm (≈ 18) and only a real burst opens a surge."""
    async def scenario() -> None:
        clock = FakeClock(b.T0)
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            for w in range(7):  # 08:00 … 09:00; the 09:00 window is the first warm one
                clock.now = b.T0 + timedelta(minutes=10 * w + 9)
                await apply(pool, "case-reported", [
                    b.case(f"C-{w}-{i}", **WZ, at=10 * w + i % 9) for i in range(25)], ctx)
                clock.now = b.T0 + timedelta(minutes=10 * w + 13)
                await check_once(pool, clock.now, ctx, EVERY, force=True)
            assert _surge_events(dsn) == []
            clock.now = b.T0 + timedelta(minutes=75)  # the 09:10 window, warm, B ≈ 19.5
            await apply(pool, "case-reported", [
                b.case(f"C-B-{i}", **WZ, at=70 + i % 9) for i in range(60)], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    baseline = _rows(dsn, "SELECT baseline FROM surge_state WHERE scope_key = '浙江省|温州市'")
    assert 18 < baseline[0][0] < 20
    assert _surge_events(dsn) == [("alert.opened", "warning", WZ),
                                  ("alert.opened", "warning", {"insurer": "PICC"})]


def test_the_cold_start_floor_opens_a_critical_surge_in_a_cold_window(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(minutes=5))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [
                b.case(f"C-{i}", **WZ, at=i % 5) for i in range(99)], ctx)
            assert _surge_events(dsn) == []
            await apply(pool, "case-reported", [b.case("C-100", **WZ, at=5)], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _surge_events(dsn) == [("alert.opened", "critical", WZ),
                                  ("alert.opened", "critical", {"insurer": "PICC"})]
    summary = _rows(dsn, "SELECT summary, threshold FROM rm_alerts WHERE scope->>'city' = '温州市'")
    assert summary == [("温州市: 100 cases reported in the 08:00 window,"
                        " cold start (no baseline yet), floor 100", 100.0)]


def test_an_earlier_report_consumed_later_moves_the_first_window_back(dsn: str) -> None:
    """Warmth depends on the earliest reported_at, not on consumption order."""
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(minutes=65))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-LATE", **WZ, at=61)], ctx)
            await apply(pool, "case-reported", [b.case("C-EARLY", **WZ, at=0)], ctx)
            await apply(pool, "case-reported", [
                b.case(f"C-{i}", **WZ, at=60 + i % 5) for i in range(25)], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _rows(dsn, "SELECT first_window FROM surge_state WHERE scope_key = '浙江省|温州市'"
                 ) == [(b.T0,)]
    assert ("alert.opened", "warning", WZ) in _surge_events(dsn)


def test_a_history_hold_defers_judging_until_the_history_is_consumed(dsn: str) -> None:
    """``claimdesk up``: while its history is replayed no window closes and no surge opens;
    once the expected case.reported events are consumed, the windows close in one go."""
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO surge_hold (name, expected_cases) VALUES ('history', 150)")

    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(minutes=75))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            # the 09:10 window is still open (wall clock 09:15): 100 cases would open a
            # surge in a cold window, and 49 earlier cases make it warm
            await apply(pool, "case-reported", [b.case(f"C-H{i}", **WZ, at=i) for i in range(49)],
                        ctx)
            await apply(pool, "case-reported", [
                b.case(f"C-S{i}", **WZ, at=70 + i % 5) for i in range(100)], ctx)
            assert await check_once(pool, clock.now, ctx, EVERY, force=True)
            assert _surge_events(dsn) == []
            assert _rows(dsn, "SELECT max(baseline) FROM surge_state") == [(0,)]
            await apply(pool, "case-reported", [b.case("C-H49", **WZ, at=49)], ctx)
            assert await check_once(pool, clock.now, ctx, EVERY, force=True)
            assert _rows(dsn, "SELECT released_at IS NOT NULL FROM surge_hold") == [(True,)]
            assert _rows(dsn, "SELECT max(baseline) FROM surge_state")[0][0] > 0
            await apply(pool, "case-reported", [b.case("C-S100", **WZ, at=71)], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert ("alert.opened", "critical", WZ) in _surge_events(dsn)
