"""``claimdesk up``: the whole system on one machine, with simulated insurer traffic.

Order (SPEC §9): migrations → topics → roster → two hours of simulated history (data times
in the past, at the live rate) → worker. A ``surge_hold`` row keeps the monitor from judging
surges until the history is consumed; the live simulator (and its one demo burst) starts
only then, so the baselines are warm and the demo surge is the only one.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from infra.db import migrate
from infra.kafka import create_topics, wait_for_broker
from infra.settings import Settings
from topics import TopicNames
from workers.bootstrap import connections, run_worker

log = logging.getLogger(__name__)


def _load_roster(settings: Settings) -> None:
    """Load the simulator's roster, so simulated dispatches have adjusters."""
    import asyncio

    from infra.db import open_pool, unit_of_work
    from workers.bootstrap import build_runtime
    from workers.roster import parse_roster, replace_roster
    from workers.simulate import DEFAULT_ROSTER_SEED, roster, write_roster_csv

    settings.data_dir.mkdir(parents=True, exist_ok=True)  # absent with external connections
    path = write_roster_csv(settings.data_dir / "roster.csv", roster(DEFAULT_ROSTER_SEED))
    rows = parse_roster(Path(path).read_text(encoding="utf-8"), str(path))
    ctx = build_runtime(settings, registry=None).context

    async def load() -> None:
        pool = await open_pool(settings.dsn())
        try:
            async with unit_of_work(pool) as uow:
                await replace_roster(uow.conn, rows, ctx)
                await uow.commit()
        finally:
            await pool.close()

    asyncio.run(load())
    log.info("roster loaded: %d adjusters (%s)", len(rows), path)


def publish_history(settings: Settings, names: TopicNames, span: timedelta,
                    rate: float) -> int:
    """Publish ``span`` of simulated history and hold surge judging until it is consumed.

    The hold expects the case.reported events already consumed plus the history's, so a
    second ``up`` on the same data works too. Returns the number of records published.
    """
    from workers.sim.history import history_cases, history_run
    from workers.simulate import DEFAULT_ROSTER_SEED, publish_run, roster

    now = datetime.now(UTC)
    run = history_run(now, span, rate, seed=int(now.timestamp()),
                      adjusters=roster(DEFAULT_ROSTER_SEED))
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO surge_hold (name, expected_cases) SELECT 'history', count(*) + %s"
            " FROM inbox WHERE topic = 'case-reported' ON CONFLICT (name) DO UPDATE SET"
            " expected_cases = EXCLUDED.expected_cases, created_at = now(), released_at = NULL",
            (history_cases(run),))
    sent = publish_run(settings.bootstrap(), names, run)
    log.info("published %d records of simulated history (%s)", sent, span)
    return sent


def _wait_for_release(dsn: str, released: threading.Event, stop: threading.Event) -> None:
    """Set ``released`` once the history hold is released (the monitor releases it)."""
    while not stop.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute("SELECT bool_and(released_at IS NOT NULL) FROM surge_hold"
                                   ).fetchone()
            if row is None or row[0] is not False:
                log.info("history consumed: live traffic starts")
                released.set()
                return
        except psycopg.Error as exc:
            log.warning("waiting for the history hold: %s", type(exc).__name__)
        stop.wait(1.0)


def run_up(settings: Settings, rate: float, surge: str | None,
           history: timedelta = timedelta(hours=2), bursts: int = 1) -> int:
    """Embedded stack → migrations → topics → roster → history → simulator thread → worker."""
    from workers.simulate import run_live

    with connections(settings) as s:
        migrate(s.dsn())
        wait_for_broker(s.bootstrap())
        names = TopicNames(s.topic_prefix)
        create_topics(s.bootstrap(), names)
        _load_roster(s)
        if history > timedelta(0) and rate > 0:
            publish_history(s, names, history, rate)
        stop, released = threading.Event(), threading.Event()
        waiter = threading.Thread(target=_wait_for_release, name="history-hold", daemon=True,
                                  args=(s.dsn(), released, stop))
        sim = threading.Thread(
            target=run_live, name="simulator", daemon=True,
            kwargs={"bootstrap": s.bootstrap(), "names": names, "rate_per_s": rate,
                    "surge_city": surge, "stop": stop, "bursts": bursts, "start": released},
        )
        waiter.start()
        sim.start()
        simulating = (f"{rate:g} cases/s once the history is consumed"
                      + (f", {bursts} demo burst(s) in {surge}" if surge else ""))
        try:
            run_worker(s, role="up", banner_lines=[("simulator", simulating)],
                       embedded=settings.embedded)
        finally:
            stop.set()
            sim.join(10)
            waiter.join(5)
    return 0
