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


def test_publish_puts_each_key_on_the_default_partitioners_partition_in_order(
    bootstrap: str, names: TopicNames
) -> None:
    """Batched publishing (one produce batch per partition, several when one is full)
    places records as one ``send`` per record did, and keeps each key's order."""
    from aiokafka.partitioner import DefaultPartitioner

    from infra.kafka import OutRecord

    topics = [names.name("alerts"), names.name("escalations")]
    pad = "x" * 4000  # ~4 kB records: a partition's share of a call spans 2 batches
    records = [OutRecord(topics[n % 2], f"C-{n % 37}".encode(),
                         json.dumps({"n": n, "pad": pad}).encode(), (("h", b"v"),))
               for n in range(3000)]

    async def scenario() -> None:
        publisher = AsyncPublisher(bootstrap)
        await publisher.start()
        try:
            await publisher.publish(records[:1500])
            await publisher.publish(records[1500:])
        finally:
            await publisher.stop()

    asyncio.run(scenario())
    reference = DefaultPartitioner()
    for topic in topics:
        got = read_all(bootstrap, topic, expect=1500)
        assert len(got) == 1500
        parts = sorted({r.partition for r in got} | set(range(names.partitions)))
        per_key: dict[bytes | None, list[int]] = {}
        for rec in sorted(got, key=lambda r: (r.partition, r.offset)):
            assert rec.partition == reference(rec.key, parts, parts)
            assert rec.headers == {"h": b"v"}
            per_key.setdefault(rec.key, []).append(json.loads(rec.value)["n"])
        assert all(ns == sorted(ns) for ns in per_key.values())
        assert sorted(n for ns in per_key.values() for n in ns) == list(range(topics.index(topic), 3000, 2))


class _Collect:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def publish(self, records: Any) -> None:
        self.sent.extend(records)


class _Vault:
    async def read(self, subjects: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return {s: {"reporter_name": f"name of {s[1]}", "reporter_phone": "13800000000"}
                for s in set(subjects) if s[1] != "C-missing"}


def test_notice_kinds_and_records_equal_decoding_every_published_notice(
    names: TopicNames, dsn: str
) -> None:
    """The relay reads notice kinds from the documents PII filling decoded; the reference
    (the former relay) decoded every published ``customer-notices`` value."""
    from infra.pii_fill import reporter_of

    def notice(n: int, kind: str, case: str) -> bytes:
        return json.dumps({"id": f"n{n}", "data": {"kind": kind, "case_id": case,
                                                    "to": {"name": None, "phone": None}}},
                          ensure_ascii=False).encode()

    kinds = ["report_received", "adjuster_assigned", "payout_approved", "closing_callback"]
    items = []
    for n in range(120):
        case = "C-missing" if n % 29 == 0 else f"C-{n % 11}"
        if n % 4 == 3:  # other topics, no PII
            items.append(OutboxItem("alerts", case, json.dumps({"n": n}).encode(), f"ev-{n}"))
        elif n % 5 == 0:  # a notice without a PII reference
            items.append(OutboxItem("customer-notices", case, notice(n, kinds[n % 4], case),
                                    f"ev-{n}"))
        else:
            items.append(OutboxItem("customer-notices", case, notice(n, kinds[n % 4], case),
                                    f"ev-{n}", reporter_of(case)))
    publisher = _Collect()
    got_kinds: dict[str, int] = {}

    async def scenario() -> None:
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await pool.open()
        try:
            async with pool.connection() as conn:
                await enqueue(conn, items)
            while not publisher.sent:  # the lock is per database: another test may hold it
                await relay_once(pool, publisher, names, limit=1000, vault=_Vault(),
                                 notice_kinds=got_kinds)
        finally:
            await pool.close()

    asyncio.run(scenario())
    held = {f"n{n}" for n in range(120) if n % 29 == 0 and n % 4 != 3 and n % 5 != 0}
    expected_kinds: dict[str, int] = {}
    for rec in publisher.sent:
        if rec.topic == names.name("customer-notices"):
            kind = json.loads(rec.value)["data"]["kind"]
            expected_kinds[kind] = expected_kinds.get(kind, 0) + 1
    assert got_kinds == expected_kinds and sum(got_kinds.values()) == 90 - len(held)
    sent_ids = [json.loads(r.value).get("id") for r in publisher.sent]
    assert not held & set(sent_ids)
    assert all(r.headers == (("content-type", b"application/cloudevents+json"),)
               for r in publisher.sent)
    for rec in publisher.sent:
        doc = json.loads(rec.value)
        if rec.topic == names.name("customer-notices") and doc["data"]["to"]["name"]:
            assert doc["data"]["to"]["name"] == f"name of {rec.key.decode()}"
