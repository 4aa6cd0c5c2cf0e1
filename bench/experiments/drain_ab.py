"""A/B drain: the same pre-published workload drained by the code of two source trees.

    git worktree add --detach /tmp/base main
    .venv/bin/python -m bench.experiments.drain_ab --events 20000 --runs 3 /tmp/base .

One stack (embedded, or the env connections), one workload; each round drains it once per
tree on a fresh prefix/schema (migrated by THIS tree's migrations), alternating which tree
goes first, so a noisy shared machine hurts both alike. The worker runs the tree's code
(``PYTHONPATH`` + ``PYTHONSAFEPATH``). Prints events/s per run, the 1-min load average at
each run, and the median per tree — the figure to quote (issue 10: drain before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import _load_roster
from bench.stack import Sandbox, Worker, bench_connections, commit_timestamps_on
from bench.workload import Workload, build_workload, publish_all
from infra.settings import load_settings


def drain_once(bootstrap: str, base_dsn: str, work: Workload, tree: Path, log_dir: Path,
               commit_ts: bool, timeout_s: float = 900.0) -> float:
    """events/s of one drain by ``tree``'s worker (first transaction → last commit)."""
    box = Sandbox(bootstrap, base_dsn, "ab").create()
    try:
        asyncio.run(_load_roster(box.dsn, box, work.roster, log_dir))
        publish_all(box.bootstrap, box.names.name, work.events)
        target = work.distinct()
        env = {"PYTHONPATH": str(tree.resolve()), "PYTHONSAFEPATH": "1"}
        w = Worker(box, log_dir, f"ab-{uuid.uuid4().hex[:8]}", extra_env=env).start()
        try:
            end = time.monotonic() + timeout_s
            while int(box.scalar("SELECT count(*) FROM inbox")) < target:
                if not w.alive() or time.monotonic() > end:
                    raise SystemExit(f"drain failed; log {w.log_path}:\n{w.log_tail()}")
                time.sleep(0.2)
        finally:
            w.stop()
        last = "pg_xact_commit_timestamp(xmin)" if commit_ts else "processed_at"
        first, last_at = box.rows("SELECT extract(epoch FROM min(processed_at)),"
                                  f" extract(epoch FROM max({last})) FROM inbox")[0]
        return target / max(1e-6, float(last_at) - float(first))
    finally:
        box.drop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("trees", nargs=2, type=Path, help="A (before) and B (after) source trees")
    args = p.parse_args(argv)
    work = build_workload(args.events)
    log_dir = Path(tempfile.mkdtemp(prefix="claimdesk-ab-"))
    rates: dict[Path, list[float]] = {t: [] for t in args.trees}
    with bench_connections(load_settings()) as s:
        bootstrap, base_dsn = s.bootstrap(), s.dsn()
        commit_ts = commit_timestamps_on(base_dsn)
        for r in range(args.runs):
            order = args.trees if r % 2 == 0 else list(reversed(args.trees))
            for tree in order:
                load = os.getloadavg()[0]
                rate = drain_once(bootstrap, base_dsn, work, tree, log_dir, commit_ts)
                rates[tree].append(rate)
                print(f"run {r} {tree}: {rate:,.0f} events/s (load {load:.2f})", flush=True)
    for tree, values in rates.items():
        print(f"median {tree}: {statistics.median(values):,.0f} events/s over {len(values)} runs"
              f" ({', '.join(f'{v:,.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
