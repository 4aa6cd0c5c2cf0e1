"""Customer notices (SPEC §4.12) and their PII filled at publish time (SPEC §8 v2).

Handlers run in-process on real Postgres; the relay publishes to the real broker with a
vault reader connected as a ``claimdesk_pii`` login, while the outbox is read and marked
by a ``claimdesk_worker`` login — which still cannot read the vault back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from infra.kafka import AsyncPublisher
from infra.metrics import build_metrics
from infra.outbox import relay_once
from infra.pii_fill import PoolVaultReader
from schemas import notice_id
from tests.conftest import contract_dir
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from tests.integration.kafka_helpers import read_all
from topics import CUSTOMER_NOTICES, TopicNames
from workers.monitor.loop import sweep_once
from workers.roster import parse_roster, replace_roster

pytestmark = pytest.mark.integration


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


@pytest.fixture
def role_dsn(dsn: str, base_dsn: str) -> Iterator[Callable[[str], str]]:
    """LOGIN roles in a claimdesk group, connecting to the test schema; dropped at the end."""
    made: list[str] = []

    def make(group: str) -> str:
        name = f"cd_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE "{group}"')
        made.append(name)
        return make_conninfo(dsn, user=name, password="")

    yield make
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


async def _relay_all(pool: AsyncConnectionPool, publisher: AsyncPublisher, names: TopicNames,
                     vault: PoolVaultReader, rounds: int = 200) -> dict[str, int]:
    """Relay until a pass publishes nothing more (the relay lock is per database, so a
    concurrent test's relay can make one pass skip)."""
    total: dict[str, int] = {}
    for _ in range(rounds):
        counts = await relay_once(pool, publisher, names, vault=vault)
        for topic, n in counts.items():
            total[topic] = total.get(topic, 0) + n
        if not counts and total:  # one pass publishes up to 1,000 rows: all of these
            return total
        await asyncio.sleep(0.05)
    return total


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    return pool


def _outbox(dsn: str) -> list[dict[str, Any]]:
    return [json.loads(bytes(r[0])) for r in _rows(
        dsn, "SELECT value FROM outbox WHERE topic = 'customer-notices' ORDER BY seq")]


def test_notices_are_stored_without_pii_and_published_with_it(
    dsn: str, bootstrap: str, names: TopicNames, role_dsn: Callable[[str], str]
) -> None:
    worker_dsn, pii_dsn = role_dsn("claimdesk_worker"), role_dsn("claimdesk_pii")

    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(hours=1)))
        pool = await _pool(dsn)
        try:
            async with pool.connection() as conn:
                roster = (contract_dir() / "roster.sample.csv").read_text(encoding="utf-8")
                await replace_roster(conn, parse_roster(roster), ctx)
                await conn.commit()
            # the dispatch is assigned before its case is known: its notice waits
            await apply(pool, "dispatch-requested", [b.dispatch("D-1", "C-1", at=5)], ctx)
            assert _outbox(dsn) == []
            await apply(pool, "case-reported", [b.case("C-1")], ctx)
            await apply(pool, "review-completed", [
                b.review("R-S", "C-1", "survey", "completed", at=60, amount="3200.00",
                         dispatch_id="D-1"),
                b.review("R-D", "C-1", "initial", "documents_requested", at=70),
                # asked again while pending: accepted, and told again (its full list)
                b.review("R-D2", "C-1", "initial", "documents_requested", at=75),
                b.review("R-A", "C-1", "initial", "approved", at=90, amount="3200.00"),
            ], ctx)
            # a redelivered trigger yields no second notice
            await apply(pool, "review-completed", [
                b.review("R-A", "C-1", "initial", "approved", at=90, amount="3200.00")], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    stored = _outbox(dsn)
    kinds = [e["data"]["kind"] for e in stored]
    assert kinds == ["dispatch_assigned", "documents_required", "documents_required", "decision"]
    by_kind = {e["data"]["kind"]: e for e in stored}
    assert by_kind["dispatch_assigned"]["id"] == notice_id("dispatch_assigned", "C-1", "D-1")
    assert by_kind["decision"]["id"] == notice_id("decision", "C-1", "R-A")
    assert by_kind["documents_required"]["data"]["params"] == {
        "missing_documents": ["驾驶证", "维修发票"], "stage": "initial"}
    assert by_kind["decision"]["data"]["params"]["amount"] == "3200.00"
    raw = b"".join(bytes(r[0]) for r in _rows(dsn, "SELECT value FROM outbox"))
    assert "张伟".encode() not in raw and b"13812345678" not in raw  # no PII stored
    assert all(e["data"]["to"] == {"role": "reporter", "name": None, "phone": None}
               for e in stored)
    assert _rows(dsn, "SELECT missing_documents, missing_documents_list FROM rm_reviews"
                      " WHERE review_id = 'R-D'") == [(2, ["驾驶证", "维修发票"])]
    assert _rows(dsn, "SELECT count(*) FROM rm_notices WHERE published_at IS NULL") == [(4,)]

    async def relay() -> dict[str, int]:
        pool, pii = await _pool(worker_dsn), await _pool(pii_dsn)
        publisher = AsyncPublisher(bootstrap)
        await publisher.start()
        try:
            return await _relay_all(pool, publisher, names, PoolVaultReader(pii))
        finally:
            await publisher.stop()
            await pool.close()
            await pii.close()

    assert asyncio.run(relay()).get(CUSTOMER_NOTICES) == 4
    got = [json.loads(r.value) for r in read_all(bootstrap, names.name(CUSTOMER_NOTICES),
                                                 expect=4)]
    assert sorted(e["id"] for e in got) == sorted(e["id"] for e in stored)
    assert all(e["data"]["to"] == {"role": "reporter", "name": "张伟", "phone": "13812345678"}
               for e in got)
    assert _rows(dsn, "SELECT count(*) FROM rm_notices WHERE published_at IS NULL") == [(0,)]
    with (psycopg.connect(worker_dsn) as conn,  # the worker still cannot read PII back
          pytest.raises(psycopg.errors.InsufficientPrivilege)):
        conn.execute("SELECT fields FROM pii_vault")


def test_a_row_whose_pii_is_missing_is_held_back_and_the_rest_go_out(
    dsn: str, bootstrap: str, names: TopicNames
) -> None:
    async def scenario() -> dict[str, int]:
        ctx = context(FakeClock(b.T0 + timedelta(hours=1)))
        pool = await _pool(dsn)
        publisher = AsyncPublisher(bootstrap)
        await publisher.start()
        try:
            await apply(pool, "case-reported", [b.case("C-1"), b.case("C-2")], ctx)
            await apply(pool, "review-completed", [
                b.review("R-1", "C-1", "initial", "rejected", at=30),
                b.review("R-2", "C-2", "initial", "rejected", at=30)], ctx)
            async with pool.connection() as conn:  # as if the vault row were purged
                await conn.execute("DELETE FROM pii_vault WHERE subject_id = 'C-1'")
                await conn.commit()
            return await _relay_all(pool, publisher, names, PoolVaultReader(pool))
        finally:
            await publisher.stop()
            await pool.close()

    assert asyncio.run(scenario())[CUSTOMER_NOTICES] == 1
    assert _rows(dsn, "SELECT case_id FROM rm_notices WHERE published_at IS NULL") == [("C-1",)]
    got = read_all(bootstrap, names.name(CUSTOMER_NOTICES), expect=1)
    assert [json.loads(r.value)["data"]["case_id"] for r in got] == ["C-2"]
    params = json.loads(got[0].value)["data"]["params"]
    assert params == {"decision": "rejected", "amount": None, "pay_by": None}


def test_the_delay_notice_goes_once_at_the_determination_warning_mark(dsn: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(days=25))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-1"), b.case("C-2")], ctx)
            # C-2 is decided before its warning instant: no delay notice
            await apply(pool, "review-completed", [
                b.review("R-2", "C-2", "initial", "rejected", at=60)], ctx)
            for _ in range(2):  # a second sweep (or sweeper) requests nothing more
                await sweep_once(pool, clock.now, build_metrics(), ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    warn = b.T0 + timedelta(days=24)  # 80 % of 30 days
    rows = _rows(dsn, "SELECT notice_id, case_id, created_at, due_by FROM rm_notices"
                      " WHERE kind = 'delay'")
    assert rows == [(notice_id("delay", "C-1", "determination"), "C-1", warn,
                     warn + timedelta(hours=1))]
    params = [e["data"]["params"] for e in _outbox(dsn) if e["data"]["kind"] == "delay"]
    assert len(params) == 1 and params[0]["clock"] == "determination"


def test_complaint_notices_each_merged_complaint_and_the_extension_reason(
    dsn: str, bootstrap: str, names: TopicNames
) -> None:
    extend = b.review("R-X", "C-1", "complaint", "extended", at=60, complaint_id="P-1")
    extend["data"]["reason"] = "需调取行车记录仪 13800000000"

    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(days=2)))
        pool = await _pool(dsn)
        publisher = AsyncPublisher(bootstrap)
        await publisher.start()
        try:
            await apply(pool, "case-reported", [b.case("C-1")], ctx)
            await apply(pool, "complaint-filed", [b.complaint("P-1", "C-1", at=30),
                                                  b.complaint("P-2", "C-1", at=40)], ctx)
            await apply(pool, "review-completed", [extend], ctx)
            await apply(pool, "review-completed", [
                b.review("R-C", "C-1", "complaint", "upheld", at=90, complaint_id="P-1")], ctx)
            await _relay_all(pool, publisher, names, PoolVaultReader(pool))
        finally:
            await publisher.stop()
            await pool.close()

    asyncio.run(scenario())
    assert sorted(_rows(dsn, "SELECT kind, complaint_id FROM rm_notices")) == [
        ("complaint_extended", "P-1"), ("complaint_result", "P-1"), ("complaint_result", "P-2")]
    raw = b"".join(bytes(r[0]) for r in _rows(dsn, "SELECT value FROM outbox"))
    assert "行车记录仪".encode() not in raw  # the reason is not stored
    got = {json.loads(r.value)["data"]["kind"] + ":" + json.loads(r.value)["data"]["complaint_id"]:
           json.loads(r.value)["data"] for r in read_all(
               bootstrap, names.name(CUSTOMER_NOTICES), expect=3)}
    ext = got["complaint_extended:P-1"]
    assert ext["params"]["reason"] == "需调取行车记录仪 13800000000"
    assert ext["to"]["role"] == "complainant" and ext["to"]["phone"]
    filed = b.T0 + timedelta(minutes=30)
    assert datetime.fromisoformat(ext["params"]["due_at"]) == filed + timedelta(days=30)
    assert got["complaint_result:P-2"]["params"] == {"decision": "upheld"}
