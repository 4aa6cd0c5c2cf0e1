"""The batched publisher picks partitions exactly as aiokafka's default partitioner does.

Outputs are keyed: which partition a key lands on (and so per-key order) is part of the
contract, and the records used to go through ``AIOKafkaProducer.send``, i.e. through
``DefaultPartitioner``. The reference here is that partitioner itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiokafka.partitioner import DefaultPartitioner

from infra.kafka_batches import group_by_partition, key_hash, partition_for


def _keys() -> list[bytes]:
    rnd = random.Random(15)
    ids = [f"C-{ins}-2026-WK3D{n:06d}".encode() for ins in ("PICC", "PINGAN", "中国人寿")
           for n in range(300)]
    raw = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40))) for _ in range(1500)]
    return [b"", b"a", b"ab", b"abc", b"abcd", *ids, *raw]


def test_partition_equals_the_default_partitioner_for_many_keys_and_counts() -> None:
    reference = DefaultPartitioner()
    for count in (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 31, 64, 100):
        parts = set(range(count))
        for key in _keys():
            expected = reference(key, list(parts), list(parts))
            assert partition_for(key, parts) == expected, (key, count)
            assert partition_for(key, parts) == expected, (key, count)  # memoised: same


def test_partitions_of_the_java_client() -> None:
    # the Java client's partitions among 1,000 (kafka-python's compatibility table)
    java = {b"": 681, b"a": 524, b"ab": 434, b"abc": 107, b"123456789": 566, b"\x00 ": 742}
    for key, partition in java.items():
        assert partition_for(key, set(range(1000))) == partition
        assert key_hash(key) % 1000 == partition


@dataclass(frozen=True)
class Rec:
    topic: str
    key: bytes | None
    n: int


def test_groups_keep_the_order_of_each_partition_and_lose_nothing() -> None:
    rnd = random.Random(3)
    keys = _keys()[:200]
    records = [Rec(rnd.choice(("a", "b")), rnd.choice(keys), n) for n in range(5000)]
    partitions = {"a": {0, 1, 2, 3}, "b": {0, 1, 2, 3, 4, 5}}
    groups = group_by_partition(records, partitions)
    reference = DefaultPartitioner()
    for (topic, p), recs in groups.items():
        assert [r.n for r in recs] == sorted(r.n for r in recs)  # list order kept
        for r in recs:
            assert r.topic == topic
            assert p == reference(r.key, sorted(partitions[topic]), sorted(partitions[topic]))
    assert sorted(r.n for g in groups.values() for r in g) == list(range(5000))


def test_a_record_without_key_goes_to_some_partition() -> None:
    groups = group_by_partition([Rec("a", None, 0)], {"a": {0, 1, 2}})
    assert [(t, p) for t, p in groups] in ([("a", 0)], [("a", 1)], [("a", 2)])
