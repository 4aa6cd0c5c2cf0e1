"""Profile a ``claimdesk worker`` while it drains pre-published simulator events.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.experiments.profile_drain --events 60000 --seconds 20

Starts the bench's embedded stack (or uses the env connections), publishes the events to a
fresh prefix/schema, starts one worker, attaches ``py-spy record`` (``--format raw``:
collapsed stacks) once the first batch committed, and prints the functions with the most
inclusive and self samples. The raw profile is kept for flame graphs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import _load_roster
from bench.stack import Sandbox, Worker, bench_connections
from bench.workload import build_workload, publish_all
from infra.settings import load_settings


def summarize(raw: Path, top: int = 40) -> str:
    """Top inclusive and self frames of a py-spy ``raw`` (collapsed) profile."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        for f in set(frames):
            inclusive[f] += count
        self_[frames[-1]] += count
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"{c / total * 100:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    out += ["", "self:"]
    out += [f"{c / total * 100:5.1f}%  {f}" for f, c in self_.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=60000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--out", default=None, help="raw profile path")
    p.add_argument("--native", action="store_true")
    p.add_argument("--after", type=int, default=1,
                   help="start profiling once the inbox holds this many events")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    work = build_workload(args.events)
    tmp = Path(tempfile.mkdtemp(prefix="claimdesk-profile-"))
    out = Path(args.out or tmp / "profile.raw")
    with bench_connections(load_settings()) as s:
        box = Sandbox(s.bootstrap(), s.dsn(), "prof").create()
        try:
            asyncio.run(_load_roster(box.dsn, box, work.roster, tmp))
            publish_all(box.bootstrap, box.names.name, work.events)
            w = Worker(box, tmp, "prof-group").start()
            try:
                while box.scalar("SELECT count(*) FROM inbox") < args.after:
                    if not w.alive():
                        raise SystemExit(f"worker exited:\n{w.log_tail()}")
                    time.sleep(0.2)
                before = box.scalar("SELECT count(*) FROM inbox")
                started = time.monotonic()
                cmd = [spy, "record", "--pid", str(w.pid), "--duration", str(args.seconds),
                       "--rate", str(args.rate), "--format", "raw", "-o", str(out)]
                if args.native:
                    cmd.append("--native")
                subprocess.run(cmd, check=True, capture_output=True)
                elapsed = time.monotonic() - started
                after = box.scalar("SELECT count(*) FROM inbox")
                print(f"{after - before} events in {elapsed:.1f} s while profiling"
                      f" ({(after - before) / elapsed:,.0f}/s, sampling overhead included)")
            finally:
                w.stop()
        finally:
            box.drop()
    print(summarize(out))
    print(f"\nraw profile: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
