"""CPU seconds of one ``claimdesk worker`` process for a fixed drain.

    .venv/bin/python -m bench.experiments.worker_cpu --events 60000

Why: on the shared 2-core machine throughput is noise, CPU time is not (much). Same
set-up as ``profile_drain`` (pre-published simulator events, one worker), but no
sampling: the worker's ``utime + stime`` (``/proc/<pid>/stat``) is read once the first
batch committed and again when the inbox holds every event, so start-up is left out.
The worker runs the code of the current directory: run this from another worktree (with
the same interpreter) for a before/after pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import _load_roster
from bench.stack import Sandbox, Worker, bench_connections
from bench.workload import build_workload, publish_all
from infra.settings import load_settings


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=60000)
    p.add_argument("--timeout", type=float, default=900)
    args = p.parse_args(argv)
    work = build_workload(args.events)
    target = work.distinct()
    tmp = Path(tempfile.mkdtemp(prefix="claimdesk-cpu-"))
    with bench_connections(load_settings()) as s:
        box = Sandbox(s.bootstrap(), s.dsn(), "cpu").create()
        try:
            asyncio.run(_load_roster(box.dsn, box, work.roster, tmp))
            publish_all(box.bootstrap, box.names.name, work.events)
            w = Worker(box, tmp, "cpu-group").start()
            try:
                deadline = time.monotonic() + args.timeout
                while (first := box.scalar("SELECT count(*) FROM inbox")) < 1:
                    if not w.alive() or time.monotonic() > deadline:
                        raise SystemExit(f"worker exited or stuck:\n{w.log_tail()}")
                    time.sleep(0.05)
                cpu0, wall0 = cpu_seconds(w.pid), time.monotonic()
                while (done := box.scalar("SELECT count(*) FROM inbox")) < target:
                    if not w.alive() or time.monotonic() > deadline:
                        raise SystemExit(f"worker exited or stuck at {done}:\n{w.log_tail()}")
                    time.sleep(0.2)
                cpu, wall = cpu_seconds(w.pid) - cpu0, time.monotonic() - wall0
                n = done - first
                hwm = [line.split()[1] for line in Path(f"/proc/{w.pid}/status").read_text()
                       .splitlines() if line.startswith("VmHWM:")]
                print(f"{n} events after the first batch: worker CPU {cpu:.1f} s"
                      f" ({cpu / n * 1e6:.0f} µs/event), wall {wall:.1f} s ({n / wall:,.0f}/s),"
                      f" peak RSS {int(hwm[0]) // 1024 if hwm else 0} MB"
                      f" [{os.getcwd()}]")
            finally:
                w.stop()
        finally:
            box.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
