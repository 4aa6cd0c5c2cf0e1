"""Owners and escalations (SPEC §4.11) on real Postgres through the real handlers and the
real sweeper: mark instants, owners, once ever with concurrent sweepers, marks settled by a
stop, marks taken back, waiting for the case."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.metrics import build_metrics
from schemas import escalation_id
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.monitor.loop import sweep_once

pytestmark = pytest.mark.integration
MIN = timedelta(minutes=1)


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _raised(dsn: str) -> list[dict[str, Any]]:
    values = [json.loads(bytes(r[0])) for r in _rows(
        dsn, "SELECT value FROM outbox WHERE topic = 'escalations' ORDER BY seq")]
    return [v["data"] | {"id": v["id"]} for v in values]


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)
    await pool.open()
    return pool


def _esc(dsn: str) -> list[tuple[Any, ...]]:
    return _rows(dsn, "SELECT subject_type, subject_id, cause, level, to_id, raised_at,"
                      " resolved_at IS NOT NULL FROM rm_escalations ORDER BY raised_at, level")


def test_warning_to_owner_breach_to_supervisor_once_with_concurrent_sweepers(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + 31 * MIN)
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-1", insurer="PICC")], ctx)
            metrics = build_metrics()
            # several sweepers at once: every mark escalates exactly once
            await asyncio.gather(*[sweep_once(pool, clock.now, metrics, ctx) for _ in range(4)])
            await asyncio.gather(*[sweep_once(pool, clock.now, metrics, ctx) for _ in range(2)])
            assert metrics.escalations_total.labels(
                cause="dispatch", level="owner")._value.get() == 1
            # the clock stops (first dispatch): the escalations resolve, none is withdrawn
            await apply(pool, "dispatch-requested", [b.dispatch("D-1", "C-1", at=35)], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    raised = _raised(dsn)
    assert [(e["cause"], e["level"], e["to"]) for e in raised] == [
        ("dispatch", "owner", "desk:PICC"), ("dispatch", "supervisor", "supervisor:PICC")]
    assert datetime.fromisoformat(raised[0]["raised_at"]) == b.T0 + 24 * MIN
    assert raised[0]["id"] == raised[0]["escalation_id"] == escalation_id(
        "case", "C-1", "dispatch", "owner")
    assert raised[1]["due_at"] is not None and "C-1" in raised[1]["summary"]
    rows = _esc(dsn)
    assert [(r[2], r[3], r[6]) for r in rows] == [("dispatch", "owner", True),
                                                  ("dispatch", "supervisor", True)]
    assert rows[0][5] == b.T0 + 24 * MIN and rows[1][5] == b.T0 + 30 * MIN


def test_a_stop_that_settles_the_clock_escalates_at_the_mark_instants(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + 5 * MIN)  # the sweeper never saw the marks
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-2")], ctx)
            await apply(pool, "dispatch-requested", [b.dispatch("D-2", "C-2", at=40)], ctx)
            await sweep_once(pool, clock.now, build_metrics(), ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert [(r[2], r[3], r[5]) for r in _esc(dsn)] == [
        ("dispatch", "owner", b.T0 + 24 * MIN), ("dispatch", "supervisor", b.T0 + 30 * MIN)]


def test_a_mark_taken_back_hides_its_escalation_but_never_raises_it_again(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + 26 * MIN)  # wall clock ahead of the data
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-3")], ctx)
            await sweep_once(pool, clock.now, build_metrics(), ctx)
            assert len(_esc(dsn)) == 1
            # the dispatch was requested at minute 10 (data time): the warning never was
            await apply(pool, "dispatch-requested", [b.dispatch("D-3", "C-3", at=10)], ctx)
            await sweep_once(pool, clock.now, build_metrics(), ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _esc(dsn) == []
    assert len(_raised(dsn)) == 1  # raised once, not withdrawn, not raised again
    assert _rows(dsn, "SELECT count(*) FROM escalations") == [(1,)]


def test_survey_clock_escalation_waits_for_its_case_and_complaints_skip_the_adjuster(
    dsn: str,
) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(days=20))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "dispatch-requested", [b.dispatch("D-4", "C-4", at=0)], ctx)
            await apply(pool, "complaint-filed", [
                b.complaint("CP-4", None, at=0, against="ADJ-GD-0042")], ctx)
            await sweep_once(pool, clock.now, build_metrics(), ctx)
            assert {r[1] for r in _esc(dsn)} == {"CP-4"}  # the survey clock waits
            await apply(pool, "case-reported", [b.case("C-4", insurer="CPIC", at=-5)], ctx)
            await sweep_once(pool, clock.now, build_metrics(), ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    got = {(r[0], r[2], r[3], r[4]) for r in _esc(dsn)}
    assert ("dispatch", "survey", "owner", "desk:CPIC") in got
    assert ("dispatch", "survey", "supervisor", "supervisor:CPIC") in got
    insurer = _rows(dsn, "SELECT insurer FROM complaints")[0][0]
    assert ("complaint", "complaint", "owner", f"complaint_desk:{insurer}") in got
    assert all(r[4] != "ADJ-GD-0042" for r in _esc(dsn))
