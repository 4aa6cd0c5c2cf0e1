"""CPU per published record of the outbox relay, and per sweeper pass, on a real outbox.

    DATABASE_URL=postgresql://127.0.0.1:5432/test \
    .venv/bin/python -m bench.experiments.relay_cpu --events 20000

Why: the relay and the sweeper run in the worker process beside the handlers, so their
CPU per record is CPU the handlers do not get. Throughput figures on a shared machine are
noisy; ``time.process_time()`` of this process over a fixed input is not.

Applies the bench workload in-process (real handlers, real outbox, real SLA clocks) into a
scratch schema, then measures with an embedded broker (or ``KAFKA_BOOTSTRAP_SERVERS``):
relay passes until the outbox is empty (repeated ``--repeat`` times, rows re-marked
unpublished in between), one sweep of every due clock (escalations raised), and idle sweeps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.workload import build_workload
from infra.db import migrate, unit_of_work
from infra.embedded import EmbeddedBroker
from infra.kafka import AsyncPublisher, OutRecord, create_topics
from infra.metrics import build_metrics
from infra.outbox import outbox_backlog, relay_once
from infra.pii_fill import PoolVaultReader
from tests.integration.inproc import FakeClock, apply, context
from topics import TopicNames
from workers.monitor.loop import sweep_once
from workers.roster import read_roster_file, replace_roster
from workers.simulate import write_roster_csv


def scratch(dsn: str) -> tuple[str, str]:
    """A fresh migrated schema: (its DSN, its name)."""
    schema = f"relaycpu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    url = f"{dsn}{sep}options=-csearch_path%3D{schema}"
    migrate(url)
    return url, schema


async def fill(pool: AsyncConnectionPool, n_events: int, clock: FakeClock) -> None:
    """Apply ``n_events`` of the bench workload through the real handlers (chunks of 200)."""
    work = build_workload(n_events)
    ctx = context(clock)
    roster = write_roster_csv(Path(tempfile.mkdtemp()) / "roster.csv", work.roster)
    async with unit_of_work(pool) as uow:
        await replace_roster(uow.conn, read_roster_file(Path(roster)), ctx)
        await uow.commit()
    chunk: list[dict[str, Any]] = []
    topic = ""
    for e in work.events:
        if chunk and (e.topic != topic or len(chunk) >= 200):
            await apply(pool, topic, chunk, ctx)
            chunk = []
        topic = e.topic
        chunk.append(json.loads(e.value))
    if chunk:
        await apply(pool, topic, chunk, ctx)


class SendEach(AsyncPublisher):
    """The publisher before batching: one awaited ``send`` per record (for A/B)."""

    async def publish(self, records: Sequence[OutRecord]) -> None:
        producer: Any = self._producer
        futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=list(r.headers))
                   for r in records]
        await asyncio.gather(*futures)


async def measure_relay(pool: AsyncConnectionPool, bootstrap: str, names: TopicNames,
                        repeat: int, legacy: bool = False, limit: int = 1000
                        ) -> list[tuple[int, float, float]]:
    """(rows, CPU seconds, wall seconds) per full drain of the outbox."""
    publisher = (SendEach if legacy else AsyncPublisher)(bootstrap)
    await publisher.start()
    vault = PoolVaultReader(pool)
    out = []
    try:
        for _ in range(repeat):
            async with pool.connection() as conn:
                await conn.execute("UPDATE outbox SET published_at = NULL")
            rows = 0
            c0, w0 = time.process_time(), time.perf_counter()
            while True:
                counts = await relay_once(pool, publisher, names, limit=limit, vault=vault,
                                          notice_kinds={})
                rows += sum(counts.values())
                # the lock is per database: another schema's relay may hold it for a moment
                if not counts and (await outbox_backlog(pool))[0] == 0:
                    break
            out.append((rows, time.process_time() - c0, time.perf_counter() - w0))
    finally:
        await publisher.stop()
    return out


async def measure_sweep(pool: AsyncConnectionPool, clock: FakeClock, idle: int
                        ) -> tuple[int, int, float, float]:
    """(marks set, escalations raised, CPU s of the full sweep, CPU ms per idle sweep)."""
    metrics = build_metrics()
    ctx = context(clock)
    async with pool.connection() as conn:  # as before the first sweep (running clocks)
        await conn.execute("DELETE FROM outbox WHERE topic = 'escalations'")
        await conn.execute("DELETE FROM escalations")
        await conn.execute("UPDATE sla_clocks SET warn_escalated = false, breach_escalated = false")
        await conn.execute("UPDATE sla_clocks SET warned_at = NULL, breached_at = NULL,"
                           " breach_seen_at = NULL WHERE stopped_at IS NULL AND paused_since IS NULL")
        before = (await (await conn.execute("SELECT count(*) FROM escalations")).fetchone()
                  or (0,))[0]
    c0 = time.process_time()
    marks = 0
    while (n := await sweep_once(pool, clock.now, metrics, ctx)) > 0:
        marks += n
    full = time.process_time() - c0
    async with pool.connection() as conn:
        after = (await (await conn.execute("SELECT count(*) FROM escalations")).fetchone()
                 or (0,))[0]
    c0 = time.process_time()
    for _ in range(idle):
        await sweep_once(pool, clock.now, metrics, ctx)
    return marks, after - before, full, (time.process_time() - c0) / idle * 1000


async def main(args: argparse.Namespace) -> None:
    base = os.environ["DATABASE_URL"]
    if args.schema:
        schema = args.schema
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    else:
        url, schema = scratch(base)
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap
    names = TopicNames(f"rc{uuid.uuid4().hex[:8]}.")
    create_topics(bootstrap, names)
    clock = FakeClock(datetime.now(UTC))
    pool = AsyncConnectionPool(url, min_size=2, max_size=4, open=False)
    await pool.open(wait=True)
    try:
        # the sweep happens during the fill in a worker; here the clock is "now" at the
        # end, so every mark passed in the workload's days is set by the measured sweep
        if not args.schema:
            await fill(pool, args.events, clock)
        # swept N days later: every running clock has both its marks due
        later = FakeClock(clock.now + timedelta(days=args.sweep_days))
        marks, raised, full, idle_ms = await measure_sweep(pool, later, args.idle)
        print(f"sweep: {marks} marks, {raised} escalations raised, {full * 1000:.0f} ms CPU"
              f" ({full / max(raised, 1) * 1e6:.0f} µs/escalation); idle sweep {idle_ms:.2f} ms CPU")
        for legacy in (True, False) if args.ab else (False,):
            label = "relay (send each)" if legacy else "relay"
            for rows, cpu, wall in await measure_relay(pool, bootstrap, names, args.repeat,
                                                       legacy, args.limit):
                print(f"{label}: {rows} rows, {cpu:.3f} s CPU ="
                      f" {cpu / max(rows, 1) * 1e6:.1f} µs/row, wall {wall:.2f} s")
    finally:
        await pool.close()
        if broker is not None:
            broker.stop()
        if args.keep or args.schema:
            print(f"schema kept: {schema}")
        else:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--sweep-days", type=int, default=40)
    parser.add_argument("--ab", action="store_true", help="also the one-send-per-record publish")
    parser.add_argument("--limit", type=int, default=1000, help="rows per relay pass")
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema")
    parser.add_argument("--schema", help="reuse a kept schema (no fill)")
    asyncio.run(main(parser.parse_args()))
