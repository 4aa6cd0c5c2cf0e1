"""CPU of the batch handlers alone, per event, and a dump of what they wrote.

    DATABASE_URL=postgresql://127.0.0.1:5432/test \\
        .venv/bin/python -m bench.experiments.handlers_cpu --events 20000 --dump /tmp/a.txt

Why: the machine is shared, so wall-clock throughput is noise; ``time.process_time()`` of
this process while it applies a fixed simulator workload through the real handlers (one
transaction per topic group of a round, as the batch consumer does; decode done before,
outside the measure) is the handlers' Python CPU plus psycopg's client side. The fixed
seed, start and fake clock make the outputs deterministic, so ``--dump`` (outbox rows and
read models, sorted; ``data_hash`` masked, its format changed) compares two builds byte
for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import os
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from infra.db import migrate, open_pool, unit_of_work
from schemas import INPUT_EVENTS
from topics import TopicNames
from workers.bootstrap import handlers
from workers.context import HandlerContext
from workers.records import Incoming, Record
from workers.rules.policy import PolicyBook
from workers.simulate import CST, generate

START = datetime(2026, 11, 1, tzinfo=CST)
NOW = datetime(2026, 11, 30, 12, tzinfo=CST)
#: columns filled by Postgres at insert time (differ between any two runs)
_VOLATILE = {"data_hash", "processed_at", "created_at", "inserted_at", "recorded_at", "seq", "id",
             "parked_at", "applied_at", "last_run_at",
             "published_at", "enqueued_at", "available_at"}


def _workload(n: int, dup: float) -> tuple[list[Any], list[dict[str, str]]]:
    n_cases = max(10, int(n / 4.6) + 20)
    while True:
        run = generate(n_cases, seed=7, start=START, spread=timedelta(days=3),
                       dup_fraction=dup)
        if len(run.events) >= n:
            return run.events[:n], run.roster
        n_cases = int(n_cases * 1.1) + 10


def _rounds(events: list[Any], size: int) -> list[list[tuple[str, list[Incoming]]]]:
    out = []
    for start in range(0, len(events), size):
        groups: dict[str, list[Incoming]] = defaultdict(list)
        for n, e in enumerate(events[start:start + size]):
            rec = Record(e.topic, 0, start + n, e.key.encode(), e.value)
            groups[e.topic].append(Incoming(rec, INPUT_EVENTS[e.topic].model_validate_json(e.value)))
        out.append(list(groups.items()))
    return out


async def _load_roster(dsn: str, rows: list[dict[str, str]], ctx: HandlerContext) -> None:
    from workers.roster import read_roster_file, replace_roster
    from workers.simulate import write_roster_csv

    tmp = Path(tempfile.mkdtemp())
    parsed = read_roster_file(Path(write_roster_csv(tmp / "roster.csv", rows)))
    pool = await open_pool(dsn)
    try:
        async with unit_of_work(pool) as uow:
            await replace_roster(uow.conn, parsed, ctx)
            await uow.commit()
    finally:
        await pool.close()


async def _apply(dsn: str, rounds: list[list[tuple[str, list[Incoming]]]],
                 ctx: HandlerContext, prof: cProfile.Profile | None) -> float:
    table = handlers()
    pool = await open_pool(dsn)
    cpu = 0.0
    try:
        for groups in rounds:
            for topic, items in groups:
                async with unit_of_work(pool) as uow:
                    t0 = time.process_time()
                    if prof:
                        prof.enable()
                    await table[topic](uow.conn, items, ctx)
                    await uow.commit()
                    if prof:
                        prof.disable()
                    cpu += time.process_time() - t0
    finally:
        await pool.close()
    return cpu


def _gc_meter() -> list[float]:
    """[CPU seconds in the collector, full collections], updated as the GC runs."""
    acc = [0.0, 0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            acc[2] = time.process_time()
        else:
            acc[0] += time.process_time() - acc[2]
            acc[1] += info["generation"] == 2

    gc.callbacks.append(on_gc)
    return acc


def _dump(dsn: str, path: Path) -> str:
    lines = []
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            " ORDER BY 1").fetchall()]
        for t in tables:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND table_name = %s ORDER BY ordinal_position", (t,))
                if r[0] not in _VOLATILE]
            if not cols:
                continue
            sel = ", ".join(f'"{c}"::text' for c in cols)
            rows = sorted(repr(r) for r in conn.execute(f'SELECT {sel} FROM "{t}"'))
            lines.append(f"== {t} ({len(rows)}) {cols}")
            lines += rows
    # data_hash changed format in issue 15 (h2:...): masked so builds compare
    text = re.sub(r'"data_hash": "[^"]*"', '"data_hash": "*"', "\n".join(lines) + "\n")
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--round", type=int, default=2000)
    p.add_argument("--dup", type=float, default=0.0)
    p.add_argument("--dump", default=None)
    p.add_argument("--freeze", action="store_true", help="gc.freeze() the decoded workload")
    p.add_argument("--profile", default=None, help="write cProfile stats here")
    args = p.parse_args(argv)
    base = os.environ["DATABASE_URL"]
    schema = f"h_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    dsn = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        migrate(dsn)
        events, roster = _workload(args.events, args.dup)
        ctx = HandlerContext(names=TopicNames(), policy=PolicyBook(), clock=lambda: NOW)
        asyncio.run(_load_roster(dsn, roster, ctx))
        rounds = _rounds(events, args.round)
        if args.freeze:  # the workload's own objects out of the GC's way (a worker holds
            gc.freeze()  # one round, not all of them)
        prof = cProfile.Profile() if args.profile else None
        gc_cpu = _gc_meter()
        cpu = asyncio.run(_apply(dsn, rounds, ctx, prof))
        print(f"{len(events)} events: {cpu:.2f} s CPU, {cpu / len(events) * 1e6:.0f} µs/event"
              f" (GC {gc_cpu[0]:.2f} s in {gc_cpu[1]:.0f} gen-2 collections)")
        if prof and args.profile:
            prof.dump_stats(args.profile)
            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(45)
        if args.dump:
            print("dump digest", _dump(dsn, Path(args.dump)))
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
