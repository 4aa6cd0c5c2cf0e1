"""``claimdesk up``: the whole system on one machine, with simulated insurer traffic."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

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


def run_up(settings: Settings, rate: float, surge: str | None) -> int:
    """Embedded stack → migrations → topics → roster → simulator thread → worker."""
    from workers.simulate import run_live

    with connections(settings) as s:
        migrate(s.dsn())
        wait_for_broker(s.bootstrap())
        names = TopicNames(s.topic_prefix)
        create_topics(s.bootstrap(), names)
        _load_roster(s)
        stop = threading.Event()
        sim = threading.Thread(
            target=run_live, name="simulator", daemon=True,
            kwargs={"bootstrap": s.bootstrap(), "names": names, "rate_per_s": rate,
                    "surge_city": surge, "stop": stop},
        )
        sim.start()
        simulating = f"{rate:g} cases/s" + (f", surges in {surge}" if surge else "")
        try:
            run_worker(s, role="up", banner_lines=[("simulator", simulating)],
                       embedded=settings.embedded)
        finally:
            stop.set()
            sim.join(10)
    return 0
