"""Publishing and reading topics with kafka-python, as insurer systems and operators do."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

HEADERS = [("content-type", b"application/cloudevents+json")]


def publish(bootstrap: str, topic: str, messages: Iterable[tuple[str | None, bytes]]) -> int:
    """Publish (key, value) pairs and flush; returns how many were sent."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 << 20)
    n = 0
    try:
        for key, value in messages:
            producer.send(topic, key=key.encode() if key else None, value=value, headers=HEADERS)
            n += 1
        producer.flush(30)
    finally:
        producer.close()
    return n


def event_bytes(event: dict[str, Any]) -> bytes:
    """A CloudEvent as UTF-8 JSON."""
    return json.dumps(event, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Consumed:
    """A record read back from a topic."""

    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Consumed]:
    """Read a topic from the beginning until ``expect`` records arrived (or fail)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        consumer_timeout_ms=500, max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20,
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Consumed] = []
        end = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < end:
            for tp, recs in consumer.poll(timeout_ms=300).items():
                out.extend(
                    Consumed(r.key, r.value, {k: v for k, v in r.headers}, tp.partition, r.offset)
                    for r in recs
                )
        if len(out) < expect:
            raise AssertionError(f"{topic}: {len(out)} of {expect} records after {timeout:.0f} s")
        return out
    finally:
        consumer.close()
