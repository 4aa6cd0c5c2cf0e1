"""Publishing simulated traffic with kafka-python, as an insurer system would."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from workers.sim.model import SimEvent, SimRun

log = logging.getLogger(__name__)

#: Producer header of every record (SPEC §2).
HEADERS: list[tuple[str, bytes]] = [("content-type", b"application/cloudevents+json")]


class TopicNamer(Protocol):
    """What the publisher needs of ``topics.TopicNames``."""

    def name(self, base: str) -> str:
        """Prefixed topic name of a base name."""
        ...


def make_producer(bootstrap: str, client_id: str = "claimdesk-simulator") -> Any:
    """A kafka-python producer: linger 5 ms, large batches, acks from all replicas."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        linger_ms=5,
        batch_size=512 * 1024,
        max_request_size=1024 * 1024,
        max_block_ms=10_000,
    )


def send(producer: Any, names: TopicNamer, event: SimEvent) -> Any:
    """Send one record (key = case_id, else complaint_id); returns the send future."""
    return producer.send(
        names.name(event.topic), key=event.key.encode(), value=event.value, headers=HEADERS
    )


def publish_run(
    bootstrap: str,
    names: TopicNamer,
    run: SimRun,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Publish every record of ``run`` in order, flush, and return how many were sent.

    ``progress(sent, total)`` is called every 1,000 records and once after the
    final flush. Raises ``RuntimeError`` if the broker refused any record (the
    message names the error type and count only).
    """
    total = len(run.events)
    failures: list[BaseException] = []
    producer = make_producer(bootstrap)
    try:
        for i, event in enumerate(run.events, 1):
            send(producer, names, event).add_errback(failures.append)
            if progress is not None and i % 1000 == 0 and i < total:
                progress(i, total)
        producer.flush()
    finally:
        producer.close()
    if failures:
        kind = type(failures[0]).__name__
        raise RuntimeError(f"{len(failures)} of {total} simulated records failed ({kind})")
    if progress is not None:
        progress(total, total)
    log.info("published %d simulated records", total)
    return total
