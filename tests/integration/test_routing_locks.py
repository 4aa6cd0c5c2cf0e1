"""Routing locks per province (issue 15, SPEC §4.2): routing never crosses a province.

- a transaction routing in one province does not hold up routing in another;
- two transactions routing in the same province serialise, so load never exceeds
  capacity (the second one waits, then sees the first one's assignment and queues);
- a survey batch holds its dispatch's province lock (a survey closes dispatches and
  frees capacity there);
- a roster load (``ROUTING_LOCK`` exclusive) still excludes routing in every province;
- a withdrawal routes only in its open dispatches' provinces (it used to take the global
  lock exclusively: every withdrawal waited for, and held up, all routing everywhere).

Transactions are left open on purpose and the waits are observed in ``pg_locks``; a
blocked statement gets ``lock_timeout`` as its deadline, never a timing assertion.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.integration import builders
from tests.integration.inproc import FakeClock, context, incoming
from tests.integration.test_withdrawals import withdrawal
from topics import CASE_REPORTED, CASE_WITHDRAWN, DISPATCH_REQUESTED, REVIEW_COMPLETED
from workers.bootstrap import handlers
from workers.handlers.common import ROUTING_LOCK, lock_subjects

pytestmark = pytest.mark.integration

GD, ZJ = "广东省", "浙江省"


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for adj, province, city in (("ADJ-GD", GD, "深圳市"), ("ADJ-ZJ", ZJ, "杭州市")):
            conn.execute(
                "INSERT INTO adjusters (adjuster_id, name_masked, province, cities, skills,"
                " capacity, active) VALUES (%s, '*', %s, %s, %s, 1, true)",
                (adj, province, [city], ["auto"]))


def _dispatch(dispatch_id: str, province: str) -> dict[str, Any]:
    city = "深圳市" if province == GD else "杭州市"
    return builders.dispatch(dispatch_id, f"C-{dispatch_id}", city=city, province=province)


async def _open(dsn: str, topic: str, events: list[dict[str, Any]], timeout: str = "30s",
                app: str = "claimdesk-test") -> psycopg.AsyncConnection[Any]:
    """Apply ``events`` in a transaction left open (the caller commits)."""
    conn = await psycopg.AsyncConnection.connect(dsn, application_name=app)
    await conn.execute(f"SET lock_timeout = '{timeout}'")
    ctx = context(FakeClock(builders.T0 + timedelta(minutes=10)))
    try:
        await handlers()[topic](conn, incoming(topic, events), ctx)
    except BaseException:
        await conn.close()
        raise
    return conn


async def _waits_for_a_lock(dsn: str, app: str) -> None:
    """Until the session named ``app`` waits for an advisory lock (deadline 30 s)."""
    end = time.monotonic() + 30
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as watch:
        while time.monotonic() < end:
            cur = await watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'", (app,))
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the second transaction never waited for the province lock")


def _statuses(dsn: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(dsn) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT dispatch_id, status, adjuster_id FROM dispatches").fetchall()}


def test_routing_in_one_province_does_not_wait_for_another(dsn: str) -> None:
    _seed(dsn)

    async def scenario() -> None:
        gd = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-1", GD)])
        try:
            # the old global lock made this wait for gd's commit: lock_timeout then fails it
            zj = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-2", ZJ)], timeout="5s")
            await zj.commit()
            await zj.close()
        finally:
            await gd.commit()
            await gd.close()

    asyncio.run(scenario())
    assert _statuses(dsn) == {"D-1": ("assigned", "ADJ-GD"), "D-2": ("assigned", "ADJ-ZJ")}


def test_routing_in_the_same_province_serialises_and_load_stays_within_capacity(
    dsn: str,
) -> None:
    _seed(dsn)

    async def scenario() -> None:
        app = f"rl-second-{uuid.uuid4().hex[:8]}"
        first = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-1", GD)])
        second = asyncio.create_task(
            _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-3", GD)], app=app))
        try:
            await _waits_for_a_lock(dsn, app)
        finally:  # whatever happened, end both transactions (the schema is dropped next)
            await first.commit()
            await first.close()
            conn = await second
            await conn.commit()
            await conn.close()

    asyncio.run(scenario())
    # capacity 1: the second request queues instead of overloading ADJ-GD
    assert _statuses(dsn) == {"D-1": ("assigned", "ADJ-GD"), "D-3": ("queued", None)}


def test_a_survey_holds_its_dispatch_province_and_frees_capacity_there(dsn: str) -> None:
    _seed(dsn)

    async def scenario() -> None:
        conn = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-1", GD)])
        await conn.commit()
        await conn.close()
        survey = builders.review("R-1", "C-D-1", "survey", "completed", at=20, amount="100.00",
                                 dispatch_id="D-1")
        surveying = await _open(dsn, REVIEW_COMPLETED, [survey])
        app = f"rl-waiting-{uuid.uuid4().hex[:8]}"
        waiting = asyncio.create_task(
            _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-4", GD)], app=app))
        try:
            await _waits_for_a_lock(dsn, app)
            # ... while another province routes freely
            zj = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-5", ZJ)], timeout="5s")
            await zj.commit()
            await zj.close()
        finally:  # whatever happened, end every transaction (the schema is dropped next)
            await surveying.commit()
            await surveying.close()
            conn = await waiting
            await conn.commit()
            await conn.close()

    asyncio.run(scenario())
    got = _statuses(dsn)
    assert got["D-1"][0] == "surveyed" and got["D-4"] == ("assigned", "ADJ-GD")
    assert got["D-5"] == ("assigned", "ADJ-ZJ")


def test_a_roster_load_lock_excludes_routing_in_every_province(dsn: str) -> None:
    _seed(dsn)

    async def scenario() -> None:
        roster = await psycopg.AsyncConnection.connect(dsn)
        await lock_subjects(roster, [ROUTING_LOCK])
        try:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-6", ZJ)], timeout="1s")
        finally:
            await roster.rollback()
            await roster.close()

    asyncio.run(scenario())


def test_a_withdrawal_routes_only_in_its_dispatches_province(dsn: str) -> None:
    _seed(dsn)

    async def scenario() -> None:
        for topic, event in ((CASE_REPORTED, builders.case("C-W", province=GD)),
                             (DISPATCH_REQUESTED, builders.dispatch("D-W", "C-W", province=GD))):
            conn = await _open(dsn, topic, [event])
            await conn.commit()
            await conn.close()
        zj = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-2", ZJ)])  # left open
        try:
            # the old global exclusive lock waited for zj's shared one: lock_timeout fails it
            gd = await _open(dsn, CASE_WITHDRAWN, [withdrawal("C-W", at=30)], timeout="5s")
            app = f"rl-gd-{uuid.uuid4().hex[:8]}"
            waiting = asyncio.create_task(
                _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-7", GD)], app=app))
            try:  # ... but routing in its own province waits for it
                await _waits_for_a_lock(dsn, app)
            finally:
                await gd.commit()
                await gd.close()
                conn = await waiting
                await conn.commit()
                await conn.close()
        finally:
            await zj.commit()
            await zj.close()

    asyncio.run(scenario())
    got = _statuses(dsn)
    # the withdrawal cancelled D-W and freed ADJ-GD, which then took D-7
    assert got["D-W"][0] == "cancelled" and got["D-7"] == ("assigned", "ADJ-GD")
    assert got["D-2"] == ("assigned", "ADJ-ZJ")


def test_a_parked_withdrawal_applied_with_its_case_routes_only_in_its_province(
    dsn: str,
) -> None:
    _seed(dsn)

    async def scenario() -> None:
        parked = await _open(dsn, CASE_WITHDRAWN, [withdrawal("C-P", at=30)])  # case unknown
        await parked.commit()
        await parked.close()
        zj = await _open(dsn, DISPATCH_REQUESTED, [_dispatch("D-2", ZJ)])  # left open
        try:
            # the case arrives and applies its parked withdrawal: the old code took the
            # global lock exclusively here, waited for zj and failed at lock_timeout
            case = await _open(dsn, CASE_REPORTED, [builders.case("C-P", province=GD)],
                               timeout="5s")
            await case.commit()
            await case.close()
        finally:
            await zj.commit()
            await zj.close()

    asyncio.run(scenario())
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT outcome FROM withdrawals WHERE case_id = 'C-P'").fetchone()
    assert row == ("applied",)
