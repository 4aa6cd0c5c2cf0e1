"""SLA clocks, surge and alerts against real Postgres with an injected clock."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.metrics import build_metrics
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.monitor.health import breach_conditions
from workers.monitor.loop import check_once, sweep_once

pytestmark = pytest.mark.integration
EVERY = timedelta(seconds=30)


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _outbox(dsn: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(bytes(r[0])) for r in
            _rows(dsn, "SELECT value FROM outbox WHERE topic = %s ORDER BY seq", topic)]


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)
    await pool.open()
    return pool


def test_overdue_cases_breach_once_count_metrics_and_raise_an_alert(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(hours=3))
        ctx = context(clock)
        metrics = build_metrics()
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-LATE-1"), b.case("C-LATE-2"),
                                                b.case("C-ONTIME", at=170)], ctx)
            assert await sweep_once(pool, clock.now, metrics) == 4  # 2 warnings + 2 breaches
            assert await sweep_once(pool, clock.now, metrics) == 0  # never twice
            assert await check_once(pool, clock.now, ctx, EVERY)
        finally:
            await pool.close()
        assert metrics.registry.get_sample_value(
            "claimdesk_sla_breaches_total", {"clock": "dispatch"}) == 2
        assert metrics.registry.get_sample_value(
            "claimdesk_sla_warnings_total", {"clock": "dispatch"}) == 2

    asyncio.run(scenario())
    breached = _rows(dsn, "SELECT subject_id, breached_at = due_at, warned_at = warn_at"
                          " FROM rm_sla_clocks WHERE clock = 'dispatch' AND breached_at IS NOT NULL"
                          " ORDER BY 1")
    assert breached == [("C-LATE-1", True, True), ("C-LATE-2", True, True)]
    alerts = _rows(dsn, "SELECT kind, scope FROM rm_alerts WHERE resolved_at IS NULL")
    assert alerts == [("sla_breach", {"clock": "dispatch", "insurer": "PICC"})]
    opened = _outbox(dsn, "alerts")
    assert [e["type"] for e in opened] == ["alert.opened"]


def test_a_late_stop_in_time_takes_back_the_breach_the_sweeper_saw(dsn: str) -> None:
    """The sweeper marks a clock breached at wall time; a dispatch request that arrives
    late but was made before the due time settles the clock as met, so neither the views
    nor the "breaches in the last 15 min" check may count it any more."""
    async def scenario() -> list[Any]:
        clock = FakeClock(b.T0 + timedelta(hours=3))
        ctx = context(clock)
        metrics = build_metrics()
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-LATE-1"), b.case("C-LATE-2")], ctx)
            await sweep_once(pool, clock.now, metrics)
            await apply(pool, "dispatch-requested", [b.dispatch("D-1", "C-LATE-1", at=5)], ctx)
            async with pool.connection() as conn:
                return await breach_conditions(conn, clock.now, ctx.policy.default)
        finally:
            await pool.close()

    conditions = asyncio.run(scenario())
    rows = _rows(dsn, "SELECT subject_id, breached_at IS NOT NULL, breach_seen_at IS NOT NULL"
                      " FROM sla_clocks WHERE clock = 'dispatch' ORDER BY 1")
    assert rows == [("C-LATE-1", False, False), ("C-LATE-2", True, True)]
    assert [c.value for c in conditions] == [1.0]


def test_two_sweepers_at_once_mark_each_clock_exactly_once(dsn: str) -> None:
    async def scenario() -> float:
        clock = FakeClock(b.T0 + timedelta(days=40))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case(f"C-{n}") for n in range(300)], ctx)
        finally:
            await pool.close()
        sweepers = [(await _pool(dsn), build_metrics()) for _ in range(2)]
        try:
            async def sweep(pool: AsyncConnectionPool, metrics: Any) -> None:
                while await sweep_once(pool, clock.now, metrics):
                    pass
            await asyncio.gather(*(sweep(p, m) for p, m in sweepers))
        finally:
            for p, _ in sweepers:
                await p.close()
        return sum(m.registry.get_sample_value("claimdesk_sla_breaches_total",
                                               {"clock": c}) or 0
                   for _, m in sweepers for c in ("dispatch", "determination"))

    total = asyncio.run(scenario())
    assert total == 600  # 300 dispatch + 300 determination clocks, each breached once
    assert _rows(dsn, "SELECT count(*) FROM sla_clocks WHERE breached_at IS NULL") == [(0,)]


def test_documents_pending_pauses_determination_and_moves_its_due_time(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0)
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-P")], ctx)
            await apply(pool, "review-completed", [
                b.review("R-1", "C-P", "initial", "documents_requested", at=60)], ctx)
            await apply(pool, "review-completed", [
                b.review("R-2", "C-P", "initial", "approved", at=60 + 48 * 60,
                         amount="9000.00")], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    (due, paused), = _rows(dsn, "SELECT due_at, paused FROM rm_sla_clocks"
                                " WHERE subject_id = 'C-P' AND clock = 'determination'")
    assert not paused
    assert due == datetime.fromisoformat(b.ts(0)) + timedelta(days=30, hours=48)


def test_surge_opens_once_with_staffing_advice_and_resolves_after_quiet_windows(
    dsn: str,
) -> None:
    async def scenario() -> None:
        start = b.T0  # 08:00 +08:00, a window boundary
        clock = FakeClock(start)
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            # a quiet baseline: 2 cases per window for an hour, each window closed in turn
            for w in range(6):
                clock.now = start + timedelta(minutes=10 * w + 1)
                await apply(pool, "case-reported", [
                    b.case(f"C-Q{w}-{i}", city="温州市", province="浙江省", at=10 * w + i)
                    for i in range(2)], ctx)
                clock.now = start + timedelta(minutes=10 * w + 13)
                await check_once(pool, clock.now, ctx, EVERY, force=True)
            # 200 cases in the 09:00 window, while it is open
            clock.now = start + timedelta(minutes=65)
            burst = [b.case(f"C-S{i}", city="温州市", province="浙江省", at=60 + i % 10)
                     for i in range(200)]
            for chunk in range(0, 200, 10):
                await apply(pool, "case-reported", burst[chunk:chunk + 10], ctx)
            # quiet windows afterwards: the surge resolves after three of them
            for w in range(7, 11):
                clock.now = start + timedelta(minutes=10 * w + 13)
                await check_once(pool, clock.now, ctx, EVERY, force=True)
        finally:
            await pool.close()

    asyncio.run(scenario())
    events = [e for e in _outbox(dsn, "alerts") if e["data"]["kind"] == "surge"
              and "city" in e["data"]["scope"]]
    assert [(e["type"], e["data"]["severity"]) for e in events] == [
        ("alert.opened", "warning"), ("alert.opened", "critical"), ("alert.resolved", "critical")]
    opened = events[0]["data"]
    assert opened["scope"] == {"province": "浙江省", "city": "温州市"}
    assert opened["staffing"]["adjusters_needed"] > 0
    assert opened["staffing"]["target"] == "80% of surveys start within 2 h"
    assert len({e["data"]["alert_id"] for e in events}) == 1
    assert _rows(dsn, "SELECT count(*) FROM rm_alerts WHERE kind = 'surge'"
                      " AND scope->>'city' = '温州市'") == [(1,)]
