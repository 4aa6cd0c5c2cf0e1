"""The monitor task of a worker: sweep SLA clocks, report lag, run the periodic checks.

Every process sweeps (SKIP LOCKED makes that safe) and refreshes its own gauges; the
§4.6 checks and surge window closing run in one process per interval, chosen through
the ``monitor_runs`` row (whoever advances it first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from infra.db import unit_of_work
from infra.metrics import Metrics
from infra.outbox import outbox_backlog
from infra.retry import Backoff, run_loop
from workers.context import HandlerContext
from workers.escalations import count_escalations, raise_clock_escalations
from workers.monitor.health import run_checks
from workers.monitor.sweeper import count_sweep, sweep_clocks
from workers.ops_samples import sample_ops
from workers.store.catastrophes import resolve_catastrophes
from workers.store.effects import Effects, flush
from workers.store.notices import request_delay_notices
from workers.store.surge import close_windows

log = logging.getLogger(__name__)

LagRow = tuple[str, int, int, float]  # topic, partition, lag messages, lag seconds
LagProbe = Callable[[datetime], Iterable[LagRow]]
STAGES = ("survey", "initial", "second", "joint")
KINDS = ("surge", "backlog", "sla_breach", "consumer_lag", "group_complaint", "data_quality",
         "satisfaction", "payment_failed", "catastrophe")


async def sweep_once(pool: AsyncConnectionPool, now: datetime, metrics: Metrics,
                     ctx: HandlerContext | None = None) -> int:
    """One sweep transaction; returns marks set.

    With ``ctx``, the same transaction raises the escalations of every mark not escalated
    yet (SPEC §4.11): the ones just set and those a pause or stop settled meanwhile.
    """
    raised = []
    async with unit_of_work(pool) as uow:
        result = await sweep_clocks(uow.conn, now)
        if ctx is not None:
            fx = Effects()
            raised = await raise_clock_escalations(uow.conn, ctx, fx)
            await request_delay_notices(uow.conn, fx, ctx.clock())
            await flush(uow.conn, fx)
        await uow.commit()
    count_sweep(metrics, result)
    count_escalations(metrics, raised)
    return result.total


async def claim_run(conn: Any, name: str, now: datetime, every: timedelta) -> bool:
    """True for exactly one caller per ``every`` across all processes."""
    cur = await conn.execute(
        "INSERT INTO monitor_runs AS m (name, last_run_at) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at"
        " WHERE m.last_run_at <= %s RETURNING 1", (name, now, now - every + timedelta(seconds=1)))
    return await cur.fetchone() is not None


async def check_once(pool: AsyncConnectionPool, now: datetime, ctx: HandlerContext,
                     every: timedelta, force: bool = False) -> bool:
    """Run the §4.6 checks and close surge windows if this process won the interval."""
    async with unit_of_work(pool) as uow:
        if not force and not await claim_run(uow.conn, "checks", now, every):
            return False
        fx = Effects()
        await close_windows(uow.conn, now, ctx, fx)
        await resolve_catastrophes(uow.conn, now, ctx, fx)
        await run_checks(uow.conn, now, ctx, fx)
        await flush(uow.conn, fx)
        await uow.commit()
    return True


async def refresh_gauges(pool: AsyncConnectionPool, metrics: Metrics) -> None:
    """Backlog gauges from Postgres (each process exports the shared state)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM dispatches WHERE status = 'queued'),"
            " (SELECT count(*) FROM complaints WHERE status = 'open'),"
            " (SELECT count(*) FROM parked_events)")
        row = await cur.fetchone()
        assert row is not None
        metrics.dispatch_queue_depth.set(row[0])
        metrics.open_complaints.set(row[1])
        metrics.parked_events.set(row[2])
        cur = await conn.execute(
            "SELECT stage, count(*) FROM cases WHERE stage IS NOT NULL GROUP BY stage")
        pending: dict[str, int] = dict(await cur.fetchall())
        for stage in STAGES:
            metrics.pending_reviews.labels(stage=stage).set(pending.get(stage, 0))
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE status <> 'paid'),"
            " count(*) FILTER (WHERE status = 'failed') FROM payouts")
        payouts = await cur.fetchone()
        assert payouts is not None
        metrics.payouts_unpaid.set(payouts[0])
        metrics.payouts_failed.set(payouts[1])
        cur = await conn.execute(
            "SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind")
        open_kinds: dict[str, int] = dict(await cur.fetchall())
        for kind in KINDS:
            metrics.alerts_open.labels(kind=kind).set(open_kinds.get(kind, 0))
        cur = await conn.execute(
            "SELECT scope_type, count(*) FROM surge_state WHERE level IS NOT NULL GROUP BY 1")
        surges: dict[str, int] = dict(await cur.fetchall())
        for scope in ("city", "insurer"):
            metrics.surge_active.labels(scope=scope).set(surges.get(scope, 0))
    pending_rows, oldest = await outbox_backlog(pool)
    metrics.outbox_pending.set(pending_rows)
    metrics.outbox_oldest_seconds.set(oldest)


async def report_lag(pool: AsyncConnectionPool, rows: list[LagRow], now: datetime,
                     metrics: Metrics) -> None:
    """Export lag metrics and share them through Postgres for the lag check."""
    worst: dict[str, float] = {}
    # partitions move between processes: export only the ones this process owns now
    metrics.consumer_lag_messages.clear()
    metrics.consumer_lag_seconds.clear()
    for topic, partition, messages, seconds in rows:
        metrics.consumer_lag_messages.labels(topic=topic, partition=str(partition)).set(messages)
        worst[topic] = max(worst.get(topic, 0.0), seconds)
    for topic, seconds in worst.items():
        metrics.consumer_lag_seconds.labels(topic=topic).set(seconds)
    if rows:
        async with pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO consumer_lag AS l (topic, partition, lag_messages, lag_seconds,"
                " reported_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (topic, partition)"
                " DO UPDATE SET lag_messages = EXCLUDED.lag_messages,"
                " lag_seconds = EXCLUDED.lag_seconds, reported_at = EXCLUDED.reported_at",
                [(t, p, m, s, now) for t, p, m, s in rows])


async def run_monitor(pool: AsyncConnectionPool, ctx: HandlerContext, metrics: Metrics,
                      stop: asyncio.Event, lag_probe: LagProbe | None = None,
                      sweep_every_s: float = 5.0) -> None:
    """Loop until ``stop``: sweep every few seconds, checks every policy interval."""
    every = ctx.policy.default.backlog.check_interval
    last_check: datetime | None = None

    async def step() -> float:
        nonlocal last_check
        now = ctx.clock()
        while (marks := await sweep_once(pool, now, metrics, ctx)) >= 2000:
            pass  # a backlog of due clocks: keep sweeping before sleeping
        log.debug("monitor: sweep set %d SLA mark(s)", marks)
        if lag_probe is not None:
            await report_lag(pool, list(lag_probe(now)), now, metrics)
        if last_check is None or now - last_check >= every:
            last_check = now
            await refresh_gauges(pool, metrics)
            ran = await check_once(pool, now, ctx, every)
            log.debug("monitor: health checks %s", "run" if ran else "run by another worker")
            await sample_ops(pool, now)  # ops page history; one process a minute
        return sweep_every_s

    await run_loop(step, component="monitor", metrics=metrics, stop=stop,
                   backoff=Backoff(first_s=sweep_every_s, max_s=max(sweep_every_s, 10.0)))
