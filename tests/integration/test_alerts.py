"""Backlog, group-complaint alerts and catastrophe mode, with an injected clock."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
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


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _alert_events(dsn: str, kind: str) -> list[tuple[str, str]]:
    values = [json.loads(bytes(r[0])) for r in
              _rows(dsn, "SELECT value FROM outbox WHERE topic = 'alerts' ORDER BY seq")]
    return [(v["type"], v["data"]["severity"]) for v in values if v["data"]["kind"] == kind]


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    return pool


def test_backlog_alert_opens_holds_and_resolves_after_two_clear_checks(dsn: str) -> None:
    async def scenario() -> list[list[tuple[str, str]]]:
        clock = FakeClock(b.T0 + timedelta(minutes=45))
        ctx = context(clock)
        pool = await _pool(dsn)
        seen = []
        try:
            # no roster: every dispatch queues; the oldest is 40 min old → backlog
            await apply(pool, "dispatch-requested",
                        [b.dispatch(f"D-{n}", f"C-{n}", at=n) for n in range(3)], ctx)
            for _ in range(2):
                clock.now += EVERY
                await check_once(pool, clock.now, ctx, EVERY, force=True)
                seen.append(_alert_events(dsn, "backlog"))
            # the queue empties: one clear check holds the alert, the second resolves it
            await apply(pool, "review-completed", [
                b.review(f"R-{n}", f"C-{n}", "survey", "completed", at=50, amount="1.00",
                         dispatch_id=f"D-{n}") for n in range(3)], ctx)
            for _ in range(2):
                clock.now += EVERY
                await check_once(pool, clock.now, ctx, EVERY, force=True)
                seen.append(_alert_events(dsn, "backlog"))
        finally:
            await pool.close()
        return seen

    seen = asyncio.run(scenario())
    opened = [("alert.opened", "warning")]
    assert seen == [opened, opened, opened, opened + [("alert.resolved", "warning")]]
    (scope, resolved), = _rows(dsn, "SELECT scope, resolved_at IS NOT NULL FROM rm_alerts")
    assert scope == {"province": "广东省", "city": "深圳市"} and resolved


def test_five_complaints_against_one_adjuster_raise_a_group_complaint(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(hours=2))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "complaint-filed", [
                b.complaint(f"CP-{n}", f"C-{n}", at=10 * n, against="ADJ-GD-0042")
                for n in range(5)], ctx)
            await check_once(pool, clock.now, ctx, EVERY, force=True)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _rows(dsn, "SELECT kind, scope, value FROM rm_alerts") == [
        ("group_complaint", {"adjuster_id": "ADJ-GD-0042"}, 5.0)]


def test_an_open_surge_puts_the_initial_review_in_catastrophe_mode(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(minutes=5))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            # v2 warm-up: a report an hour earlier makes the 08:00 window warm (SPEC §4.5)
            await apply(pool, "case-reported", [
                b.case("C-EARLIER", city="温州市", province="浙江省", at=-60)], ctx)
            await apply(pool, "case-reported", [
                b.case(f"C-S{n}", city="温州市", province="浙江省", at=n % 5) for n in range(25)],
                ctx)
            await apply(pool, "review-completed", [
                b.review("R-CAT", "C-S0", "initial", "approved", at=6, amount="15000.00"),
            ], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _rows(dsn, "SELECT cat_mode, status FROM rm_cases WHERE case_id = 'C-S0'") == [
        (True, "approved")]
    assert _rows(dsn, "SELECT approval_path, amount FROM rm_payouts") == [
        ("fast_track", 15000)]


def test_report_daily_prints_the_days_statistics(dsn: str, worker_env: dict[str, str]) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0))
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-R1"), b.case("C-R2", insurer="CPIC")],
                        ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    done = subprocess.run([sys.executable, "-m", "workers.cli", "report", "daily", "--date",
                           b.T0.date().isoformat(), "--format", "csv"], env=worker_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("insurer,line,province,reported")
    assert sorted(lines[1:]) == ["CPIC,auto,广东省,1,0,0,0,0,0,0", "PICC,auto,广东省,1,0,0,0,0,0,0"]
