"""Minute samples of the ops state that has no history of its own (queue depth, open
escalations, SLA clocks at risk), so the ops page can chart the last hours.

Run from the monitor loop; one process per minute does it (``monitor_runs``), so scaling out
adds no samples. Wall-clock time: these are live gauges, not facts with a data time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from infra.db import unit_of_work

EVERY = timedelta(seconds=60)
KEEP = timedelta(days=8)

#: metric → SQL of one number; a metric whose relation is missing is skipped (savepoint).
SAMPLES: dict[str, str] = {
    "queue_depth": "SELECT count(*) FROM dispatches WHERE status = 'queued'",
    "open_escalations": "SELECT count(*) FROM ops_open_escalations",
    "clocks_at_risk": "SELECT count(*) FROM sla_clocks WHERE stopped_at IS NULL"
                      " AND warned_at IS NOT NULL",
    "open_complaints": "SELECT count(*) FROM complaints WHERE status = 'open'",
}


async def _claim(conn: Any, now: datetime) -> bool:
    cur = await conn.execute(
        "INSERT INTO monitor_runs AS m (name, last_run_at) VALUES ('ops_samples', %s)"
        " ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at"
        " WHERE m.last_run_at <= %s RETURNING 1", (now, now - EVERY + timedelta(seconds=1)))
    return await cur.fetchone() is not None


async def sample_ops(pool: AsyncConnectionPool, now: datetime) -> int:
    """Record one sample of each metric if this process won the minute; returns rows written."""
    async with unit_of_work(pool) as uow:
        if not await _claim(uow.conn, now):
            return 0
        rows: list[tuple[datetime, str, float]] = []
        for metric, sql in SAMPLES.items():
            try:
                async with uow.conn.transaction():
                    cur = await uow.conn.execute(sql)
                    row = await cur.fetchone()
            except psycopg.errors.UndefinedTable:  # a relation a later migration adds
                continue
            rows.append((now, metric, float(row[0] if row else 0)))
        async with uow.conn.cursor() as cur:
            await cur.executemany("INSERT INTO ops_samples (sampled_at, metric, value)"
                                  " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", rows)
        await uow.conn.execute("DELETE FROM ops_samples WHERE sampled_at < %s", (now - KEEP,))
        await uow.commit()
    return len(rows)
