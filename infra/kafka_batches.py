"""Records grouped into one produce batch per topic-partition, partitioned as aiokafka would.

Why: ``AIOKafkaProducer.send`` per record costs ~20 µs of Python each (metadata wait,
a pure-Python murmur2 of the key, a future per record, a debug log call); the relay sends
thousands of records a second. ``create_batch``/``send_batch`` take records already
grouped by partition, with one future per batch. Outputs are keyed, and which partition a
key lands on is part of the contract (per-key order, consumers' co-partitioning), so the
partition is chosen exactly as aiokafka's ``DefaultPartitioner`` (the Java client's
murmur2) chooses it — ``tests/unit/test_kafka_batches.py`` compares the two — and the
records of one partition keep their order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from aiokafka.partitioner import DefaultPartitioner, murmur2

_HASHES: dict[bytes, int] = {}  # key → murmur2 & 0x7fffffff (keys repeat: case ids)
_HASH_CACHE_MAX = 1 << 16


class Keyed(Protocol):
    """What grouping needs of a record."""

    @property
    def topic(self) -> str: ...

    @property
    def key(self) -> bytes | None: ...


def key_hash(key: bytes) -> int:
    """``murmur2(key) & 0x7fffffff``, memoised (bounded)."""
    h = _HASHES.get(key)
    if h is None:
        if len(_HASHES) >= _HASH_CACHE_MAX:
            _HASHES.clear()
        h = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return h


def partition_for(key: bytes | None, partitions: Collection[int]) -> int:
    """The partition ``DefaultPartitioner`` picks for ``key`` among ``partitions``.

    ``partitions`` as the producer's metadata gives them (aiokafka takes
    ``list(partitions)`` as "all partitions"); a ``None`` key goes to a random one, as there.
    """
    all_partitions = list(partitions)
    if key is None:
        return int(DefaultPartitioner()(None, all_partitions, all_partitions))
    return all_partitions[key_hash(key) % len(all_partitions)]


def group_by_partition(records: Sequence[Any], partitions: dict[str, Collection[int]]
                       ) -> dict[tuple[str, int], list[Any]]:
    """(topic, partition) → the records that go there, in their original order."""
    groups: dict[tuple[str, int], list[Any]] = {}
    lists = {t: list(p) for t, p in partitions.items()}
    for r in records:
        parts = lists[r.topic]
        key = r.key
        if key is None:
            p = partition_for(None, parts)
        else:
            h = _HASHES.get(key)
            p = parts[(h if h is not None else key_hash(key)) % len(parts)]
        group = groups.get((r.topic, p))
        if group is None:
            groups[(r.topic, p)] = group = []
        group.append(r)
    return groups
