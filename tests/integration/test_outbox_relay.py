"""The outbox relay: several relays at once publish every row, in order per key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.kafka import AsyncPublisher, create_topics
from infra.outbox import OutboxItem, enqueue, relay_once
from tests.integration.kafka_helpers import read_all
from topics import TopicNames, all_topics

pytestmark = pytest.mark.integration


def test_two_relays_publish_every_row_once_in_order_per_key(
    bootstrap: str, names: TopicNames, dsn: str
) -> None:
    rows = [OutboxItem("alerts", f"k{n % 7}", json.dumps({"n": n}).encode(), f"ev-{n}")
            for n in range(700)]

    async def scenario() -> None:
        pool = AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False)
        await pool.open()
        publishers = [AsyncPublisher(bootstrap), AsyncPublisher(bootstrap)]
        try:
            async with pool.connection() as conn:
                await enqueue(conn, rows)
                await enqueue(conn, rows[:10])  # the same ids again: stored once
            for p in publishers:
                await p.start()

            async def relay(p: AsyncPublisher) -> None:
                for _ in range(200):
                    await relay_once(pool, p, names, limit=50)

            await asyncio.gather(*(relay(p) for p in publishers))
        finally:
            for p in publishers:
                await p.stop()
            await pool.close()

    asyncio.run(scenario())
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL"
                            ).fetchone() == (0,)
    got = read_all(bootstrap, names.name("alerts"), expect=700)
    assert len(got) == 700
    per_key: dict[bytes | None, list[int]] = {}
    for rec in sorted(got, key=lambda r: (r.partition, r.offset)):
        per_key.setdefault(rec.key, []).append(json.loads(rec.value)["n"])
    assert all(ns == sorted(ns) for ns in per_key.values())
    assert sorted(n for ns in per_key.values() for n in ns) == list(range(700))


def test_topics_create_is_idempotent(bootstrap: str, names: TopicNames) -> None:
    assert create_topics(bootstrap, names) == []  # the fixture created them already
    fresh: Any = TopicNames(names.prefix + "again.")
    created = create_topics(bootstrap, fresh)
    assert len(created) == len(all_topics(fresh)) and fresh.dlt("case-reported") in created
    assert create_topics(bootstrap, fresh) == []
