"""The README's screenshots: the ops page after four simulated hours with a surge, and a
monthly report of a simulated month — real handlers, real monitor, real Chromium.

``python -m bench.screenshots --dsn postgresql://127.0.0.1:5432/test --out docs`` replaces
schemas ``shots_ops`` and ``shots_month``, drives simulated traffic through the handlers
in-process (the monitor's checks and minute samples run at 5-minute ticks of a fake clock, so
surges open and close as they would live), renders both pages and screenshots them with
headless Chromium. A docs tool, not a test; about three minutes of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool

from infra.db import migrate, unit_of_work
from tests.integration.inproc import FakeClock, apply, context
from workers.charts import javascript_bundle
from workers.monitor.loop import check_once
from workers.ops_page import render_ops_page
from workers.ops_samples import sample_ops
from workers.report import period_report, resolve_period
from workers.roster import read_roster_file, replace_roster
from workers.sim.model import SimRun
from workers.simulate import generate, write_roster_csv

TICK = timedelta(minutes=5)


def scratch(dsn: str, schema: str) -> str:
    """A fresh migrated schema; returns its DSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    url = f"{dsn}{sep}options=-csearch_path%3D{schema}"
    migrate(url)
    return url


async def drive(url: str, run: SimRun, roster: Path, clock: FakeClock, until: datetime,
                tick: timedelta = TICK) -> None:
    """Apply the run in data-time order; at every tick run the monitor's checks and sampler."""
    ctx = context(clock)
    pool = AsyncConnectionPool(url, min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    try:
        async with unit_of_work(pool) as uow:
            await replace_roster(uow.conn, read_roster_file(roster), ctx)
            await uow.commit()
        events = sorted(run.events, key=lambda e: e.data_time)
        i = 0
        while clock.now < until:
            clock.now += tick
            batch: dict[str, list[dict[str, Any]]] = {}
            while i < len(events) and events[i].data_time <= clock.now:
                batch.setdefault(events[i].topic, []).append(json.loads(events[i].value))
                i += 1
            for topic in ("case-reported", "dispatch-requested", "review-completed",
                          "complaint-filed"):
                for n in range(0, len(batch.get(topic, [])), 200):
                    await apply(pool, topic, batch[topic][n:n + 200], ctx)
            for topic, items in batch.items():
                if topic not in ("case-reported", "dispatch-requested", "review-completed",
                                 "complaint-filed"):
                    await apply(pool, topic, items, ctx)
            await check_once(pool, clock.now, ctx, tick, force=True)
            await sample_ops(pool, clock.now)
    finally:
        await pool.close()


def chromium_shot(html: Path, png: Path, size: str, bundle: Path | None = None) -> None:
    """Screenshot ``html`` (served from its directory when it needs the chart bundle)."""
    profile = tempfile.mkdtemp(prefix="shot-")
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={size}", "--virtual-time-budget=5000",
            f"--screenshot={png}"]
    server = None
    try:
        if bundle is not None:
            (html.parent / "assets").mkdir(exist_ok=True)
            shutil.copy(bundle, html.parent / "assets" / "vega.js")
            server = subprocess.Popen(["python3", "-m", "http.server", "8719", "--bind",
                                       "127.0.0.1", "--directory", str(html.parent)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:8719/{html.name}"
            for _ in range(50):
                if subprocess.run(["curl", "-sf", url], capture_output=True).returncode == 0:
                    break
                subprocess.run(["sleep", "0.1"])
        else:
            url = html.as_uri()
        subprocess.run([*args, url], check=True, capture_output=True, timeout=180)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def ops_page(dsn: str, out: Path, work: Path, now: datetime) -> None:
    url = scratch(dsn, "shots_ops")
    run = generate(900, seed=21, start=now - timedelta(hours=4), spread=timedelta(hours=4),
                   surge_city="温州市", surge_cases=160)
    roster = write_roster_csv(work / "roster.csv", run.roster)
    clock = FakeClock(now - timedelta(hours=4))
    asyncio.run(drive(url, run, roster, clock, now))

    async def render() -> str:
        pool = AsyncConnectionPool(url, min_size=1, max_size=1, open=False)
        await pool.open(wait=True)
        try:
            runtime = SimpleNamespace(pool=pool, context=context(clock))
            return await render_ops_page(cast(Any, runtime))
        finally:
            await pool.close()

    page = work / "ops.html"
    page.write_text(asyncio.run(render()), encoding="utf-8")
    bundle = work / "vega.js"
    bundle.write_text(javascript_bundle(), encoding="utf-8")
    chromium_shot(page, out / "ops-page.png", "1400,1700", bundle)


def monthly_report(dsn: str, out: Path, work: Path, month_start: datetime) -> None:
    url = scratch(dsn, "shots_month")
    run = generate(2500, seed=22, start=month_start, spread=timedelta(days=29))
    roster = write_roster_csv(work / "roster-m.csv", run.roster)
    clock = FakeClock(month_start)
    asyncio.run(drive(url, run, roster, clock, month_start + timedelta(days=31),
                      tick=timedelta(hours=2)))
    report = work / "report.html"
    label = f"{month_start + timedelta(hours=8):%Y-%m}"  # the Shanghai month
    report.write_text(period_report(url, resolve_period("month", label), "html"), encoding="utf-8")
    shutil.copy(report, out / "report-monthly.html")
    chromium_shot(report, out / "report-monthly.png", "1200,3400")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--only", choices=("ops", "report"), default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "ops"):
            now = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
            ops_page(args.dsn, out, Path(tmp), now)
        if args.only in (None, "report"):
            month = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=8)  # 1 Nov 00:00 +08
            monthly_report(args.dsn, out, Path(tmp), month)


if __name__ == "__main__":
    main()
