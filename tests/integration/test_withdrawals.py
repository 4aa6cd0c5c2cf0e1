"""Withdrawal (SPEC §4.9, 撤案) through the real handlers, with an injected clock."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.conftest import contract_dir
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.roster import parse_roster, replace_roster

pytestmark = pytest.mark.integration
ROSTER = ("adjuster_id,name,province,cities,skills,capacity,active\n"
          "ADJ-1,李强,广东省,深圳市,auto,1,true\n")


def withdrawal(case_id: str, *, at: float) -> dict[str, Any]:
    """A case.withdrawn event (``at`` in minutes after T0)."""
    ev = json.loads((contract_dir() / "case.withdrawn.json").read_text(encoding="utf-8"))
    ev.update(id=str(uuid.uuid4()), subject=case_id)
    ev["data"].update(case_id=case_id, withdrawn_at=b.ts(at))
    return ev


def _q(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


async def _run(dsn: str, steps: list[tuple[str, list[dict[str, Any]]]]) -> list[list[str]]:
    ctx = context(FakeClock(b.T0 + timedelta(hours=6)))
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    try:
        async with pool.connection() as conn:
            await replace_roster(conn, parse_roster(ROSTER), ctx)
            await conn.commit()
        return [await apply(pool, topic, events, ctx) for topic, events in steps]
    finally:
        await pool.close()


def test_withdrawal_stops_clocks_cancels_dispatches_and_drains_the_queue(dsn: str) -> None:
    outcomes = asyncio.run(_run(dsn, [
        ("case-reported", [b.case("C-1"), b.case("C-2")]),
        ("dispatch-requested", [b.dispatch("D-1", "C-1", at=5), b.dispatch("D-2", "C-2", at=6)]),
        ("case-withdrawn", [withdrawal("C-1", at=30)]),
        ("case-withdrawn", [withdrawal("C-1", at=30)]),  # same business key: duplicate
        ("review-completed", [
            b.review("R-1", "C-1", "initial", "approved", at=20, amount="100.00"),
            b.review("R-S", "C-1", "survey", "completed", at=40, amount="1.00",
                     dispatch_id="D-1")]),
        ("dispatch-requested", [b.dispatch("D-3", "C-1", at=10), b.dispatch("D-4", "C-1", at=50)]),
    ]))
    assert outcomes[2:] == [["applied"], ["duplicate"], ["refused", "refused"],
                            ["applied", "refused"]]
    # D-3 was requested before the withdrawal but applied after it: routed (queued: ADJ-1 is
    # busy with D-2), then cancelled at once; its survey
    # clock stopped at the withdrawal, until its earlier survey arrives and wins
    assert _q(dsn, "SELECT stopped_at FROM rm_sla_clocks WHERE subject_id = 'D-3'") == [
        (b.T0 + timedelta(minutes=30),)]
    asyncio.run(_run(dsn, [("review-completed", [
        b.review("R-S3", "C-1", "survey", "completed", at=20, amount="1.00",
                 dispatch_id="D-3")])]))
    assert _q(dsn, "SELECT stopped_at FROM rm_sla_clocks WHERE subject_id = 'D-3'") == [
        (b.T0 + timedelta(minutes=20),)]
    at = b.T0 + timedelta(minutes=30)
    assert _q(dsn, "SELECT status, stage, closed_at FROM rm_cases WHERE case_id = 'C-1'") == [
        ("withdrawn", None, at)]
    assert _q(dsn, "SELECT subject_id, clock FROM rm_sla_clocks WHERE stopped_at IS NULL"
                   " AND (subject_id = 'C-1' OR subject_id IN ('D-1', 'D-3'))") == []
    assert _q(dsn, "SELECT clock, stopped_at FROM rm_sla_clocks WHERE subject_id = 'C-1'"
                   " AND clock = 'determination'") == [("determination", at)]
    # D-1 was cancelled (load freed, D-2 assigned), then its survey still closed it
    assert _q(dsn, "SELECT dispatch_id, status, adjuster_id FROM rm_dispatches"
                   " ORDER BY dispatch_id") == [
        ("D-1", "surveyed", "ADJ-1"), ("D-2", "assigned", "ADJ-1"), ("D-3", "surveyed", None)]
    events = [json.loads(bytes(r[0]))["data"] for r in _q(
        dsn, "SELECT value FROM outbox WHERE topic = 'dispatch-assigned' ORDER BY seq")]
    assert [(e["dispatch_id"], e["status"]) for e in events] == [
        ("D-1", "assigned"), ("D-2", "queued"), ("D-1", "cancelled"), ("D-2", "assigned"),
        ("D-3", "queued"), ("D-3", "cancelled")]  # D-3: routed as if first, then cancelled
    assert sorted(_q(dsn, "SELECT kind FROM rm_data_quality WHERE subject_id = 'C-1'")) == [
        ("case_withdrawn",), ("case_withdrawn",), ("case_withdrawn",), ("case_withdrawn",),
        ("order_conflict",), ("order_conflict",)]
    assert _q(dsn, "SELECT withdrawn FROM rm_daily_stats WHERE withdrawn > 0") == [(1,)]


def test_the_first_of_withdrawal_and_decision_wins(dsn: str) -> None:
    outcomes = asyncio.run(_run(dsn, [
        ("case-reported", [b.case("C-1")]),
        ("review-completed", [b.review("R-1", "C-1", "initial", "rejected", at=40)]),
        ("case-withdrawn", [withdrawal("C-1", at=30)]),
    ]))
    assert outcomes[-1] == ["refused"]
    assert _q(dsn, "SELECT status FROM rm_cases") == [("rejected",)]
    assert sorted(_q(dsn, "SELECT kind FROM rm_data_quality")) == [
        ("order_conflict",), ("withdraw_after_decision",)]


def test_a_withdrawal_before_its_case_is_parked_and_applied_in_data_time_order(
    dsn: str
) -> None:
    outcomes = asyncio.run(_run(dsn, [
        ("case-withdrawn", [withdrawal("C-1", at=30)]),
        ("review-completed", [
            b.review("R-1", "C-1", "initial", "documents_requested", at=20),
            b.review("R-2", "C-1", "initial", "approved", at=40, amount="100.00")]),
        ("case-reported", [b.case("C-1")]),
    ]))
    assert outcomes[:2] == [["parked"], ["parked", "parked"]]
    assert _q(dsn, "SELECT status, closed_at FROM rm_cases") == [
        ("withdrawn", b.T0 + timedelta(minutes=30))]
    assert _q(dsn, "SELECT review_id, outcome FROM rm_reviews ORDER BY review_id") == [
        ("R-1", "applied"), ("R-2", "refused")]
    assert _q(dsn, "SELECT count(*) FROM parked_events") == [(0,)]
    # the documents notice (before the withdrawal) goes out; nothing after it
    assert _q(dsn, "SELECT kind FROM rm_notices") == [("documents_required",)]
    assert _q(dsn, "SELECT count(*) FROM rm_payouts") == [(0,)]
