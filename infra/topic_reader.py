"""Read a whole topic once (operator tools): stops at the high watermark of each partition.

The high watermark comes from fetch responses, never from ListOffsets LATEST (which the
embedded broker answers wrongly; BROKER_NOTES.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from infra.errors import TransientError


@dataclass(frozen=True)
class TopicRecord:
    """One record read by :func:`read_topic`."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def read_topic(bootstrap: str, topic: str, idle_timeout_s: float = 5.0) -> Iterator[TopicRecord]:
    """Yield every record of ``topic`` from the beginning up to its current end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20,
    )
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            raise TransientError(f"topic {topic} not found")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        done: set[int] = set()
        last_progress = time.monotonic()
        while len(done) < len(tps):
            batch = consumer.poll(timeout_ms=200)
            for tp, recs in batch.items():
                for r in recs:
                    yield TopicRecord(tp.partition, r.offset, r.key, r.value, dict(r.headers))
                last_progress = time.monotonic()
            for tp in tps:
                hw = consumer.highwater(tp)
                if hw is not None and consumer.position(tp) >= hw:
                    done.add(tp.partition)
            if time.monotonic() - last_progress > idle_timeout_s:
                break  # no fetch response carried a watermark: treat as the end
    finally:
        consumer.close()
