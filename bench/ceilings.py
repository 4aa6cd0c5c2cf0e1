"""Ceilings measured in the same run, on the same broker, database and events.

(a) :func:`aiokafka_drain` — a raw aiokafka consumer reading the input topics with
    ``getmany`` and no processing: what the broker and client library can deliver;
(b) :func:`postgres_inbox_upsert` — the inbox claim the handlers make (``unnest`` insert
    ``ON CONFLICT DO NOTHING RETURNING``) plus one read-model upsert per event, one
    transaction per batch of the worker's observed batch size: the floor cost of the
    transaction the pipeline must make;
(c) ``bench/faust_ceiling.py`` — a trivial faust agent with default settings (run as a
    subprocess by the harness).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import psycopg


async def _aiokafka_drain(bootstrap: str, topics: Sequence[str], expected: int,
                          progress: Callable[[int], None] | None,
                          timeout_s: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="bench-ceiling")
    await consumer.start()
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if not parts:
                await consumer._client.force_metadata_update()  # noqa: SLF001
                parts = consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = 0
        first: float | None = time.perf_counter()  # includes the first fetch round trip
        last = None
        deadline = time.monotonic() + timeout_s
        while got < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            n = sum(len(v) for v in batches.values())
            if n:
                last = time.perf_counter()
                got += n
                if progress:
                    progress(got)
    finally:
        await consumer.stop()
    seconds = (last - first) if first is not None and last is not None else 0.0
    return {"events": got, "seconds": seconds,
            "events_per_s": got / seconds if seconds > 0 else None}


def aiokafka_drain(bootstrap: str, topics: Sequence[str], expected: int,
                   progress: Callable[[int], None] | None = None,
                   timeout_s: float = 300.0) -> dict[str, Any]:
    """Read ``expected`` records from ``topics`` (from the beginning, no group, no work)."""
    return asyncio.run(_aiokafka_drain(bootstrap, topics, expected, progress, timeout_s))


_SCRATCH = ("CREATE TABLE IF NOT EXISTS bench_upsert (key text PRIMARY KEY, events int NOT NULL,"
            " updated_at timestamptz NOT NULL)")
_INBOX = ("INSERT INTO inbox (source, event_id, topic) SELECT s, i, %s"
          " FROM unnest(%s::text[], %s::text[]) AS u(s, i)"
          " ON CONFLICT DO NOTHING RETURNING source, event_id")
_UPSERT = ("INSERT INTO bench_upsert AS b (key, events, updated_at)"
           " SELECT k, n, clock_timestamp() FROM unnest(%s::text[], %s::int[]) AS u(k, n)"
           " ON CONFLICT (key) DO UPDATE SET events = b.events + EXCLUDED.events,"
           " updated_at = EXCLUDED.updated_at")


async def _postgres(dsn: str, rows: Sequence[tuple[str, str, str, str]], batch: int,
                    progress: Callable[[int], None] | None) -> dict[str, Any]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=False)
    try:
        await conn.execute(_SCRATCH)
        await conn.commit()
        by_topic: dict[str, list[tuple[str, str, str]]] = {}
        for topic, source, event_id, key in rows:
            by_topic.setdefault(topic, []).append((source, event_id, key))
        done = 0
        started = time.perf_counter()
        for topic, items in by_topic.items():
            for i in range(0, len(items), batch):
                chunk = items[i:i + batch]
                cur = await conn.execute(
                    _INBOX, (topic, [s for s, _, _ in chunk], [e for _, e, _ in chunk]))
                await cur.fetchall()
                keys = Counter(k for _, _, k in chunk)
                ordered = sorted(keys)
                await conn.execute(_UPSERT, (ordered, [keys[k] for k in ordered]))
                await conn.commit()
                done += len(chunk)
                if progress:
                    progress(done)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"events": len(rows), "seconds": seconds, "batch": batch,
            "events_per_s": len(rows) / seconds if seconds > 0 else None}


def postgres_inbox_upsert(dsn: str, rows: Sequence[tuple[str, str, str, str]], batch: int,
                          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """(topic, source, id, key) rows → inbox claim + read-model upsert, ``batch`` per txn."""
    return asyncio.run(_postgres(dsn, rows, max(1, batch), progress))
