"""Broker access outside faust: topic admin (kafka-python) and an async publisher (aiokafka)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from infra.errors import TransientError
from infra.kafka_batches import group_by_partition
from infra.retry import retry_blocking
from topics import TopicNames, all_topics

log = logging.getLogger(__name__)

SESSION_TIMEOUT_MS = 6000  # BROKER_NOTES: Tansu holds JoinGroup for session/2
HEARTBEAT_INTERVAL_MS = 1000


def create_topics(bootstrap: str, names: TopicNames) -> list[str]:
    """Create every registered topic that does not exist yet; returns the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="claimdesk-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [s for s in all_topics(names) if s.name not in existing]
        created: list[str] = []
        for spec in wanted:
            topic = NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.configs)
            try:
                admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile: that is fine
        return created
    finally:
        admin.close()


def wait_for_broker(bootstrap: str, deadline_s: float = 60.0) -> None:
    """Block until the broker answers metadata requests; log a clear line while waiting."""
    from kafka import KafkaAdminClient


    def connect() -> None:
        # bootstrap_timeout_ms: kafka-python 3 otherwise retries for 30 s inside the
        # constructor, so the first "not reachable" line would come only after 30 s
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                 bootstrap_timeout_ms=3000)
        admin.close()

    try:  # kafka-python raises several unrelated types here: all count as "not up yet"
        retry_blocking(connect, what=f"broker {bootstrap}", deadline_s=deadline_s,
                       transient=lambda exc: True, loud=True)
    except Exception as exc:
        raise TransientError(f"broker {bootstrap} unreachable: {type(exc).__name__}") from exc


class OutRecord(NamedTuple):
    """One record to publish (a named tuple: the relay builds thousands a second)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


class AsyncPublisher:
    """An aiokafka producer that publishes batches and waits for every ack."""

    def __init__(self, bootstrap: str, client_id: str = "claimdesk") -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._producer: object | None = None

    async def start(self) -> None:
        """Connect; raises ``TransientError`` if the broker is unreachable."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            linger_ms=2,
            # a relay pass (≤ a few thousand records) fits in about one batch per partition
            max_batch_size=512 * 1024,
            max_request_size=2 * 1024 * 1024,
        )
        try:
            await producer.start()
        except Exception as exc:
            await producer.stop()
            raise TransientError(f"cannot connect producer: {type(exc).__name__}") from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush and close."""
        if self._producer is not None:
            await self._producer.stop()  # type: ignore[attr-defined]
            self._producer = None

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Send all records and wait until the broker acknowledged each one.

        One produce batch per topic-partition (:mod:`infra.kafka_batches`: the partition
        the default partitioner would pick, records of a partition in their order) instead
        of one ``send`` per record; a partition's records beyond one batch follow in
        further batches, which the producer sends in order.
        """
        producer: Any = self._producer
        if producer is None:
            raise TransientError("publisher not started")
        try:
            partitions = {t: await producer.partitions_for(t) for t in {r.topic for r in records}}
            futures = []
            for (topic, partition), group in group_by_partition(records, partitions).items():
                futures += await _send_partition(producer, topic, partition, group)
            await asyncio.gather(*futures)
        except Exception as exc:
            raise TransientError(f"publish failed: {type(exc).__name__}: {exc}") from exc


async def _send_partition(producer: Any, topic: str, partition: int,
                          records: Sequence[OutRecord]) -> list[Any]:
    """Queue ``records`` (one partition's, in order) as few batches; their ack futures."""
    futures = []
    batch = producer.create_batch()
    for r in records:
        # a full batch refuses the record (never the first one of a batch): send, go on
        while batch.append(key=r.key, value=r.value, timestamp=None,
                           headers=list(r.headers)) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
