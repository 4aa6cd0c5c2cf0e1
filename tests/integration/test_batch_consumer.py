"""The batch consumer (workers/consumer.py) on the real broker and Postgres.

- offsets are committed only once every record of a round has settled;
- a rebalance while a round is stuck abandons that round without committing it: the
  partitions that move are read again from the last committed offset by their new
  owner, so no record is skipped, and none is applied twice (the abandoned round's
  transaction never committed);
- the consumer subscribes to exactly the topics of the handler registry it is given.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from infra.db import open_pool
from infra.kafka import AsyncPublisher
from infra.metrics import build_metrics
from tests.integration import builders
from topics import CASE_REPORTED, TopicNames
from workers.consumer import BatchConsumer, ConsumerTuning
from workers.pipeline import BatchProcessor
from workers.records import Incoming

pytestmark = pytest.mark.integration

N = 40
TUNING = ConsumerTuning(max_records=N, revoke_grace_s=1.0, keepalive_s=0.2)


class GatedHandler:
    """Records what it applied; the first call of a consumer can be made to block."""

    def __init__(self, block_first: bool) -> None:
        self.block_first = block_first
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.applied: list[tuple[int, int]] = []

    async def __call__(self, conn: Any, items: Sequence[Incoming], ctx: Any) -> list[str]:
        self.calls += 1
        await conn.execute("SELECT 1")  # inside the round's transaction
        if self.calls == 1 and self.block_first:
            self.entered.set()
            await self.gate.wait()
        self.applied.extend((i.record.partition, i.record.offset) for i in items)
        return ["applied"] * len(items)


async def _publish(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    sent = set()
    try:
        for n in range(N):
            ev = builders.case(f"C-{n}")
            md = await producer.send_and_wait(topic, json.dumps(ev).encode(), key=f"C-{n}".encode())
            sent.add((md.partition, md.offset))
    finally:
        await producer.stop()
    return sent


async def _until(pred: Any, what: str, timeout: float = 60.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Rig:
    """Pool, publisher and metrics shared by the consumers of one test."""

    def __init__(self, bootstrap: str, dsn: str, names: TopicNames, group: str) -> None:
        self.bootstrap, self.dsn, self.names, self.group = bootstrap, dsn, names, group
        self.metrics = build_metrics(CollectorRegistry())

    async def __aenter__(self) -> Rig:
        self.pool = await open_pool(self.dsn)
        self.publisher = AsyncPublisher(self.bootstrap, "test")
        await self.publisher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.publisher.stop()
        await self.pool.close()

    def consumer(self, handler: GatedHandler, tuning: ConsumerTuning = TUNING) -> BatchConsumer:
        topic = self.names.name(CASE_REPORTED)
        procs: dict[str, BatchProcessor] = {}
        c = BatchConsumer(self.bootstrap, self.group, procs, tuning)
        procs[topic] = BatchProcessor(CASE_REPORTED, handler, self.pool, self.publisher,
                                      self.names, self.metrics, None, pause=c.pauser(topic))
        return c


async def _committed(c: BatchConsumer, topic: str) -> dict[int, int | None]:
    assert c.consumer is not None
    return {p: await c.consumer.committed(TopicPartition(topic, p))
            for p in range(4)}


def test_offsets_are_committed_only_after_the_round_settles(
    bootstrap: str, dsn: str, names: TopicNames
) -> None:
    async def scenario() -> None:
        topic = names.name(CASE_REPORTED)
        sent = await _publish(bootstrap, topic)
        async with Rig(bootstrap, dsn, names, f"g-{names.prefix}") as rig:
            handler = GatedHandler(block_first=True)
            c = rig.consumer(handler, ConsumerTuning(max_records=10 * N))
            assert c.processors.keys() == {topic}
            task = asyncio.create_task(c.run())
            try:
                await asyncio.wait_for(handler.entered.wait(), 60)
                assert set((await _committed(c, topic)).values()) == {None}
                handler.gate.set()
                ends: dict[int, int] = {}
                for p, o in sent:
                    ends[p] = max(ends.get(p, 0), o + 1)

                async def caught_up() -> bool:
                    got = await _committed(c, topic)
                    return all(got.get(p) == e for p, e in ends.items())

                end = asyncio.get_running_loop().time() + 60
                while not await caught_up():
                    assert asyncio.get_running_loop().time() < end, "offsets never committed"
                    await asyncio.sleep(0.1)
                assert set(handler.applied) >= sent
            finally:
                await c.stop()
                await asyncio.wait_for(task, 30)

    asyncio.run(scenario())


def test_a_rebalance_abandons_a_stuck_round_and_the_new_owner_reads_it(
    bootstrap: str, dsn: str, names: TopicNames
) -> None:
    async def scenario() -> None:
        topic = names.name(CASE_REPORTED)
        sent = await _publish(bootstrap, topic)
        async with Rig(bootstrap, dsn, names, f"g-{names.prefix}") as rig:
            stuck, fresh = GatedHandler(block_first=True), GatedHandler(block_first=False)
            a, b = rig.consumer(stuck), rig.consumer(fresh)
            ta = asyncio.create_task(a.run())
            tb = None
            try:
                await asyncio.wait_for(stuck.entered.wait(), 60)  # a's first round hangs
                tb = asyncio.create_task(b.run())  # b joins: a must give partitions up
                applied = lambda: set(stuck.applied) | set(fresh.applied)  # noqa: E731
                await _until(lambda: applied() >= sent, "every record applied by a or b")
                assert fresh.applied, "the new member got no partitions"
                both = stuck.applied + fresh.applied
                # the abandoned round's records are applied by completed calls only once
                # each (a re-reads its own partitions, b those it took over)
                assert len(both) == len(set(both)), "a record was applied twice"
            finally:
                for c, t in ((a, ta), (b, tb)):
                    await c.stop()
                    if t is not None:
                        await asyncio.wait_for(t, 30)

    asyncio.run(scenario())
