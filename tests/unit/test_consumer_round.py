"""A round of the batch consumer applies its topics one after the other, then commits.

Guard of the latency fix (docs/performance.md, "Rounds, locks and latency"): the topics' batches of a round
used to run concurrently and waited for each other's subject locks; now each topic's batch
runs alone, in the order of the processor registry, and the round's offsets are committed
only after the last batch settled. Fails if the batches overlap (``asyncio.gather``), run
in another order, or the commit comes before every batch settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from workers.consumer import BatchConsumer
from workers.records import Record


class Proc:
    """A processor that takes a while and records when it runs."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def process(self, records: Sequence[Record]) -> None:
        self.log.append(f"start {self.name} {len(records)}")
        await asyncio.sleep(0.02)  # another batch started now would overlap this one
        self.log.append(f"end {self.name}")


class StubKafka:
    """Just the commit of an aiokafka consumer."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.offsets: dict[TopicPartition, OffsetAndMetadata] = {}

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.log.append("commit")
        self.offsets.update(offsets)


def _rec(topic: str, partition: int, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"{}", None, 1, 2, [])


def test_a_rounds_topics_run_one_after_the_other_in_registry_order() -> None:
    log: list[str] = []
    # registry order: cases before dispatches before reviews (the got mapping says otherwise)
    procs = {t: Proc(t, log) for t in ("cases", "dispatches", "reviews")}
    consumer = BatchConsumer("unused:9092", "g", procs)
    kafka = StubKafka(log)
    consumer.consumer = kafka
    got = {TopicPartition("reviews", 1): [_rec("reviews", 1, 7), _rec("reviews", 1, 8)],
           TopicPartition("dispatches", 0): [_rec("dispatches", 0, 3)],
           TopicPartition("cases", 2): [_rec("cases", 2, 0)],
           TopicPartition("reviews", 0): [_rec("reviews", 0, 5)]}
    asyncio.run(consumer._apply_and_commit(got))
    assert log == ["start cases 1", "end cases", "start dispatches 1", "end dispatches",
                   "start reviews 3", "end reviews", "commit"]
    assert {tp: o.offset for tp, o in kafka.offsets.items()} == {
        TopicPartition("reviews", 1): 9, TopicPartition("dispatches", 0): 4,
        TopicPartition("cases", 2): 1, TopicPartition("reviews", 0): 6}
