"""Transactional outbox: rows written with the decision, published by a relay.

Several relays may run (one per worker process). Each pass takes a transaction-level
advisory lock, so exactly one relay publishes at a time and rows leave in ``seq``
order (per key too). A relay killed between publishing and marking re-publishes the
same rows with the same CloudEvents ids: outputs are at-least-once by contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from infra.kafka import OutRecord
from infra.metrics import Metrics
from topics import TopicNames

log = logging.getLogger(__name__)

RELAY_LOCK = 0x6F7574  # advisory lock key: one publishing relay per database at a time
CONTENT_TYPE = ("content-type", b"application/cloudevents+json")


@dataclass(frozen=True)
class OutboxItem:
    """An output event to publish: base topic name, Kafka key, JSON bytes, CloudEvents id."""

    topic: str
    key: str
    value: bytes
    event_id: str


class Publisher(Protocol):
    """Anything that can publish records and wait for their acks."""

    async def publish(self, records: Sequence[OutRecord]) -> None: ...


async def enqueue(conn: Any, items: Sequence[OutboxItem]) -> None:
    """Insert output events in the caller's transaction (same id twice is stored once).

    One statement for the whole list; ``ORDER BY n`` makes ``seq`` follow the list order,
    as the former row-by-row inserts did (rows leave in ``seq`` order).
    """
    if not items:
        return
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, event_id)"
        " SELECT t, k, v, e FROM unnest(%b::text[], %b::text[], %b::bytea[], %b::text[])"
        " WITH ORDINALITY AS u(t, k, v, e, n) ORDER BY n ON CONFLICT (event_id) DO NOTHING",
        ([i.topic for i in items], [i.key for i in items], [i.value for i in items],
         [i.event_id for i in items]),
    )


async def relay_once(
    pool: AsyncConnectionPool, publisher: Publisher, names: TopicNames, limit: int = 1000
) -> dict[str, int]:
    """Publish up to ``limit`` unpublished rows; returns counts per base topic published."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RELAY_LOCK,))
        row = await cur.fetchone()
        if not row or not row[0]:
            return {}
        cur = await conn.execute(
            "SELECT seq, topic, key, value FROM outbox WHERE published_at IS NULL"
            " ORDER BY seq LIMIT %s",
            (limit,),
        )
        rows = await cur.fetchall()
        if not rows:
            return {}
        await publisher.publish(
            [OutRecord(names.name(t), k.encode(), bytes(v), (CONTENT_TYPE,)) for _, t, k, v in rows]
        )
        await conn.execute(
            "UPDATE outbox SET published_at = clock_timestamp() WHERE seq = ANY(%b)",
            ([r[0] for r in rows],),
        )
    counts: dict[str, int] = {}
    for _, topic, _, _ in rows:
        counts[topic] = counts.get(topic, 0) + 1
    return counts


async def outbox_backlog(pool: AsyncConnectionPool) -> tuple[int, float]:
    """(unpublished rows, age in seconds of the oldest one)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)"
            " FROM outbox WHERE published_at IS NULL"
        )
        row = await cur.fetchone()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)


async def run_relay(
    pool: AsyncConnectionPool,
    publisher: Publisher,
    names: TopicNames,
    metrics: Metrics,
    stop: asyncio.Event,
    idle_s: float = 0.05,
) -> None:
    """Relay until ``stop`` is set; transient failures back off and never end the loop."""
    delay = idle_s
    while not stop.is_set():
        try:
            counts = await relay_once(pool, publisher, names)
            for topic, n in counts.items():
                metrics.outbox_published_total.labels(topic=topic).inc(n)
            if counts:  # counts per topic only, never the records
                log.debug("outbox relay: published %s",
                          ", ".join(f"{n} to {t}" for t, n in sorted(counts.items())))
            delay = 0.0 if sum(counts.values()) >= 1000 else idle_s
        except Exception as exc:  # any failure here is a dependency failure: retry
            metrics.transient_errors_total.labels(component="outbox_relay").inc()
            log.warning("outbox relay: %s; retrying in %.1f s", type(exc).__name__, delay)
            delay = min(max(delay * 2, 0.5), 10.0)
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
