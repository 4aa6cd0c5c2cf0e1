"""Publish → commit latency at several offered loads (the bench's latency phase, repeated).

    .venv/bin/python -m bench.experiments.latency_curve --rates 500,1000,1500,2000 --seconds 30

Each rate runs on a fresh topic prefix and schema with one worker, exactly like the
latency phase of ``claimdesk bench``; prints one JSON line per rate. Shows where the
worker stops keeping up (latency then grows with the backlog, not with the pipeline).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.harness import BenchConfig, _latency
from bench.progress import Progress
from bench.stack import Sandbox, bench_connections, commit_timestamps_on
from bench.workload import build_workload
from infra.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rates", default="500,1000,1500,2000")
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    work = build_workload(int(max(rates) * args.seconds) + 300)
    with bench_connections(load_settings()) as s:
        commit_ts = commit_timestamps_on(s.dsn())
        for rate in rates:
            cfg = BenchConfig(latency_rate=rate, latency_seconds=args.seconds)
            box = Sandbox(s.bootstrap(), s.dsn(), "latency").create()
            try:
                result = _latency(box, work, cfg, Path(tempfile.mkdtemp()),
                                  Progress({"latency": 1.0}), commit_ts)
            finally:
                box.drop()
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
