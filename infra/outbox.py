"""Transactional outbox: rows written with the decision, published by a relay.

Several relays may run (one per worker process). Each pass takes a transaction-level
advisory lock, so exactly one relay publishes at a time and rows leave in ``seq``
order (per key too). A relay killed between publishing and marking re-publishes the
same rows with the same CloudEvents ids: outputs are at-least-once by contract.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from infra.kafka import OutRecord
from infra.metrics import Metrics
from infra.pii_fill import PiiRef, VaultReader, encode_ref, fill_rows, scrub
from infra.retry import run_loop
from topics import CUSTOMER_NOTICES, TopicNames

log = logging.getLogger(__name__)

RELAY_LOCK = 0x6F7574  # advisory lock key: one publishing relay per database at a time
PASS_ROWS = 1000  # rows per relay pass
BACKLOG_PASS_ROWS = 4000  # rows per pass while a backlog lasts (~2.5 MB produce request)
CONTENT_TYPE = ("content-type", b"application/cloudevents+json")
_HEADERS = (CONTENT_TYPE,)


@dataclass(frozen=True)
class OutboxItem:
    """An output event to publish: base topic name, Kafka key, JSON bytes, CloudEvents id.

    ``pii``: fields filled from the vault at publish time (:mod:`infra.pii_fill`); they are
    nulled in ``value`` before it is stored, so the outbox never holds personal data.
    """

    topic: str
    key: str
    value: bytes
    event_id: str
    pii: PiiRef = ()


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
        "INSERT INTO outbox (topic, key, value, event_id, pii_ref)"
        " SELECT t, k, v, e, r::jsonb FROM unnest(%b::text[], %b::text[], %b::bytea[],"
        " %b::text[], %b::text[]) WITH ORDINALITY AS u(t, k, v, e, r, n) ORDER BY n"
        " ON CONFLICT (event_id) DO NOTHING",
        ([i.topic for i in items], [i.key for i in items],
         [scrub(i.value, i.pii) for i in items], [i.event_id for i in items],
         [encode_ref(i.pii) for i in items]),
    )


async def relay_once(
    pool: AsyncConnectionPool, publisher: Publisher, names: TopicNames, limit: int = 1000,
    vault: VaultReader | None = None, notice_kinds: dict[str, int] | None = None,
) -> dict[str, int]:
    """Publish up to ``limit`` unpublished rows; returns counts per base topic published
    (and adds the ``customer-notices`` rows per notice kind to ``notice_kinds``).

    Rows with a PII reference get their personal fields from ``vault`` (a reader connected
    as the PII role) just before publishing; a row whose vault value is missing is held
    back (logged without values, visible as outbox age) and the others go out.
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RELAY_LOCK,))
        row = await cur.fetchone()
        if not row or not row[0]:
            return {}
        cur = await conn.execute(
            # pii_ref as text: parsed by pii_fill.decode_ref_text, memoised
            "SELECT seq, topic, key, value, pii_ref::text FROM outbox WHERE published_at IS NULL"
            " ORDER BY seq LIMIT %s",
            (limit,),
        )
        rows = await cur.fetchall()
        if not rows:
            return {}
        kinds = _NoticeKinds({r[0] for r in rows if r[1] == CUSTOMER_NOTICES})
        values, _held = await fill_rows([(r[0], r[3], r[4]) for r in rows], vault,
                                         kinds.seen if kinds.seqs else None)
        ready = [r for r in rows if r[0] in values]
        full = {t: names.name(t) for t in {r[1] for r in ready}}
        await publisher.publish([OutRecord(full[t], k.encode(), values[seq], _HEADERS)
                                 for seq, t, k, _, _ in ready])
        await conn.execute(
            "UPDATE outbox SET published_at = clock_timestamp() WHERE seq = ANY(%b)",
            ([r[0] for r in ready],),
        )
    counts: dict[str, int] = {}
    for _, topic, _, _, _ in ready:
        counts[topic] = counts.get(topic, 0) + 1
    if notice_kinds is not None:
        kinds.count(values, notice_kinds)
    return counts


class _NoticeKinds:
    """Kinds of the customer notices of a pass, read from the documents PII filling
    decoded anyway (every notice carries PII); a notice without one is decoded here."""

    def __init__(self, seqs: set[int]) -> None:
        self.seqs = seqs
        self.kind: dict[int, str] = {}

    def seen(self, seq: int, doc: dict[str, Any]) -> None:
        """``fill_rows`` hook: remember the kind of a notice row."""
        if seq in self.seqs:
            self.kind[seq] = str(doc["data"]["kind"])

    def count(self, published: dict[int, bytes], into: dict[str, int]) -> None:
        """Add the published notices per kind to ``into``."""
        for seq in self.seqs & published.keys():
            kind = self.kind.get(seq)
            if kind is None:
                kind = str(json.loads(published[seq])["data"]["kind"])
            into[kind] = into.get(kind, 0) + 1


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
    vault: VaultReader | None = None,
) -> None:
    """Relay until ``stop`` is set; failures never end the loop (``infra.retry``).

    A pass that filled its limit means a backlog: the next pass takes
    :data:`BACKLOG_PASS_ROWS` at once (a pass costs ~2 ms of CPU besides its rows:
    statements, vault read, one produce request), until a pass comes back short.
    """
    limit = PASS_ROWS

    async def step() -> float:
        nonlocal limit
        kinds: dict[str, int] = {}
        counts = await relay_once(pool, publisher, names, limit=limit, vault=vault,
                                  notice_kinds=kinds)
        for topic, n in counts.items():
            metrics.outbox_published_total.labels(topic=topic).inc(n)
        for kind, n in kinds.items():
            metrics.notices_total.labels(kind=kind).inc(n)
        if counts:  # counts per topic only, never the records
            log.debug("outbox relay: published %s",
                      ", ".join(f"{n} to {t}" for t, n in sorted(counts.items())))
        full = sum(counts.values()) >= limit
        limit = BACKLOG_PASS_ROWS if full else PASS_ROWS
        return 0.0 if full else idle_s

    await run_loop(step, component="outbox_relay", metrics=metrics, stop=stop)
