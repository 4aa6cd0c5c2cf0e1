"""Where the latency and the scale-out go: the bench's latency or drain phase with probes.

    .venv/bin/python -m bench.experiments.latency_probe latency --rate 1000 --seconds 30
    .venv/bin/python -m bench.experiments.latency_probe drain --events 40000 --workers 1,2

Same phases as ``claimdesk bench`` (fresh topics and schema each), plus:

* the worker runs at DEBUG, so its log has one ``round:`` line per ``getmany`` round
  (records, per-topic settle ms, commit ms, gap since the previous round);
* a sampler polls ``pg_stat_activity`` every 20 ms: which statements wait on a lock
  (``wait_event_type = 'Lock'``) and which backend holds it (``pg_blocking_pids``);
* CPU accounting from /proc (utime + stime) of the worker(s), every postgres process and
  the broker over the measured interval: saturation or serialisation?

Prints one JSON object per phase. Issue 15 (latency and scale-out targets), see
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from bench.harness import _commit_expr, _load_roster, _percentile, _wait_inbox
from bench.progress import Progress
from bench.stack import Sandbox, Worker, bench_connections, commit_timestamps_on
from bench.workload import Workload, build_workload, publish_all, publish_paced
from infra.settings import load_settings

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _processes() -> dict[int, str]:
    """pid → class of this stack's processes: our Postgres (postmaster in this worktree's
    data dir and its children) and our broker (a child of this process); not the other
    engineers' databases and brokers on the same machine."""
    mine = str(Path.cwd())
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (ppid, cmd)
    masters = {pid for pid, (_, cmd) in table.items() if "bin/postgres -D " + mine in cmd}
    out: dict[int, str] = {}
    for pid, (ppid, cmd) in table.items():
        if pid in masters or ppid in masters:
            out[pid] = "postgres"
        elif "tansu" in cmd and ppid == os.getpid():
            out[pid] = "broker"
    return out


class CpuMeter:
    """CPU seconds per class between :meth:`start` and :meth:`stop` (new pids count from 0)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.t0 = 0.0
        self.before: dict[int, float] = {}
        self.load0 = 0.0

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        snap = {pid: (cls, _cpu_of(pid)) for pid, cls in _processes().items()}
        for n, w in enumerate(self.workers):
            snap[w.pid] = (f"worker{n}", _cpu_of(w.pid))
        return snap

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.before = {pid: cpu for pid, (_, cpu) in self._snapshot().items()}
        self.load0 = os.getloadavg()[0]

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        per: dict[str, float] = {}
        for pid, (cls, cpu) in self._snapshot().items():
            per[cls] = per.get(cls, 0.0) + cpu - self.before.get(pid, 0.0)
        return {"wall_s": round(wall, 2), "cpu_s": {k: round(v, 2) for k, v in per.items()},
                "cores_busy": {k: round(v / wall, 2) for k, v in per.items()},
                "load_start": round(self.load0, 2), "load_end": round(os.getloadavg()[0], 2)}


class LockSampler(threading.Thread):
    """Samples lock waits of the sandbox's backends every ``every`` seconds."""

    def __init__(self, dsn: str, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.dsn, self.every = dsn, every
        self.stop_flag = threading.Event()
        self.samples = 0
        self.waits: Counter[str] = Counter()
        self.blockers: Counter[str] = Counter()
        self.active: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.provinces: Counter[str] = Counter()

    def _names(self, conn: psycopg.Connection[Any]) -> dict[int, str]:
        """Advisory key → name of the routing locks (global and per province); the other
        keys are subjects (case:, complaint:, callback:)."""
        provinces = [r[0] for r in conn.execute("SELECT DISTINCT province FROM adjusters")]
        names = ["routing"] + [f"routing:{p}" for p in provinces]
        rows = conn.execute("SELECT hashtextextended(current_schema() || '/' || x, 7)"
                            " FROM unnest(%s::text[]) AS x", (names,)).fetchall()
        return {int(r[0]): n for r, n in zip(rows, names, strict=True)}

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            me = conn.info.backend_pid
            try:
                keys = self._names(conn)
            except psycopg.Error:
                keys = {}
            while not self.stop_flag.is_set():
                for key, mode in conn.execute(
                        "SELECT (classid::bigint << 32) | objid::bigint, mode FROM pg_locks"
                        " WHERE locktype = 'advisory' AND NOT granted").fetchall():
                    name = keys.get(int(key), "subject")
                    self.keys[f"{name.split(':')[0] if name != 'routing' else name}"
                              f"{':<province>' if ':' in name else ''} {mode}"] += 1
                    if ":" in name:
                        self.provinces[name] += 1
                rows = conn.execute(
                    "SELECT a.pid, a.state, a.wait_event_type, a.wait_event,"
                    " left(regexp_replace(a.query, '\\s+', ' ', 'g'), 70),"
                    " (SELECT left(regexp_replace(b.query, '\\s+', ' ', 'g'), 70)"
                    "  FROM pg_stat_activity b WHERE b.pid = (pg_blocking_pids(a.pid))[1])"
                    " FROM pg_stat_activity a WHERE a.backend_type = 'client backend'"
                    " AND a.pid <> %s AND a.datname = current_database()", (me,)).fetchall()
                self.samples += 1
                for _pid, state, wtype, wevent, query, blocker in rows:
                    if state == "active":
                        self.active[_short(query)] += 1
                    if wtype == "Lock":
                        self.waits[f"{wevent}: {_short(query)}"] += 1
                        self.blockers[f"{_short(query)} <- {_short(blocker or '?')}"] += 1
                time.sleep(self.every)

    def report(self) -> dict[str, Any]:
        ms = self.every * 1000
        return {"samples": self.samples,
                "lock_wait_ms_by_waiter": {k: round(v * ms) for k, v in self.waits.most_common(12)},
                "waiter <- blocker (ms)": {k: round(v * ms)
                                           for k, v in self.blockers.most_common(12)},
                "advisory_wait_ms_by_key": {k: round(v * ms) for k, v in self.keys.most_common()},
                "province_wait_ms": {k: round(v * ms) for k, v in self.provinces.most_common(5)},
                "active_ms_by_statement": {k: round(v * ms)
                                           for k, v in self.active.most_common(12)}}


def _short(query: str) -> str:
    return re.sub(r"\s+", " ", query or "")[:70]


def round_stats(log_path: Path) -> dict[str, Any]:
    """Summary of the worker's DEBUG ``round:`` lines."""
    pat = re.compile(r"round: (\d+) records, gap ([\d.-]+) ms, settled ([\d.]+) ms \((.*)\),"
                     r" commit ([\d.]+) ms(?:, oldest waited ([\d.-]+) ms)?")
    rounds = []
    waited: list[float] = []
    for line in log_path.read_text(errors="replace").splitlines():
        m = pat.search(line)
        if m:
            rounds.append((int(m[1]), float(m[2]), float(m[3]), m[4], float(m[5])))
            if m[6]:
                waited.append(float(m[6]))
    if not rounds:
        return {}
    def pct(xs: list[float], p: float) -> float:
        return round(_percentile(sorted(xs), p), 1)
    settle = [r[2] for r in rounds]
    slowest = sorted(rounds, key=lambda r: -r[2])[:5]
    return {"rounds": len(rounds), "records_mean": round(sum(r[0] for r in rounds) / len(rounds), 1),
            "settle_ms p50/p95/max": [pct(settle, 50), pct(settle, 95), max(settle)],
            "commit_ms p50/p95/max": [pct([r[4] for r in rounds], 50),
                                      pct([r[4] for r in rounds], 95), max(r[4] for r in rounds)],
            "gap_ms p50/p95/max": [pct([r[1] for r in rounds[1:]], 50),
                                   pct([r[1] for r in rounds[1:]], 95),
                                   max(r[1] for r in rounds[1:])] if len(rounds) > 1 else None,
            "oldest record waited before its round, ms p50/p95/max":
                [pct(waited, 50), pct(waited, 95), max(waited)] if waited else None,
            "slowest": [f"{r[0]} rec {r[2]:.0f} ms: {r[3]}" for r in slowest]}


def latency(s: Any, work: Workload, rate: float, seconds: float, commit_ts: bool,
            env: dict[str, str]) -> dict[str, Any]:
    box = Sandbox(s.bootstrap(), s.dsn(), "latency").create()
    log_dir = Path(tempfile.mkdtemp(prefix="probe-"))
    try:
        asyncio.run(_load_roster(box.dsn, box, work.roster, log_dir))
        n = int(rate * seconds)
        worker = Worker(box, log_dir, f"probe-{uuid.uuid4().hex[:8]}", 0,
                        extra_env={"CLAIMDESK_LOG_LEVEL": "DEBUG", **env})
        worker.start()
        bar = Progress({"latency": 1.0})
        try:
            publish_all(box.bootstrap, box.names.name, work.events[:200])
            _wait_inbox(box, [worker], Workload(work.events[:200], work.roster).distinct(),
                        180, bar, "latency")
            meter, sampler = CpuMeter([worker]), LockSampler(box.dsn)
            meter.start()
            sampler.start()
            paced = publish_paced(box.bootstrap, box.names.name, work.events[200:200 + n], rate)
            _wait_inbox(box, [worker], Workload(work.events[:200 + n], work.roster).distinct(),
                        max(120.0, n / 400), bar, "latency")
            sampler.stop_flag.set()
            cpu = meter.stop()
        finally:
            worker.stop()
        rows = box.rows(f"SELECT source, event_id, extract(epoch FROM {_commit_expr(commit_ts)})"
                        " FROM inbox")
        lat = sorted((float(t) - paced.published_at[(src, e)]) * 1000.0
                     for src, e, t in rows if (src, e) in paced.published_at)
        return {"phase": "latency", "rate": rate, "offered": round(paced.offered_rate, 1),
                "p50/p95/p99/max ms": [round(_percentile(lat, p)) for p in (50, 95, 99)]
                + [round(lat[-1])],
                "cpu": cpu, "locks": sampler.report(), "rounds": round_stats(worker.log_path),
                "log": str(worker.log_path)}
    finally:
        if not os.environ.get("PROBE_KEEP"):
            box.drop()


def drain(s: Any, work: Workload, n_workers: int, commit_ts: bool,
          env: dict[str, str]) -> dict[str, Any]:
    box = Sandbox(s.bootstrap(), s.dsn(), f"drain{n_workers}").create()
    log_dir = Path(tempfile.mkdtemp(prefix="probe-"))
    try:
        asyncio.run(_load_roster(box.dsn, box, work.roster, log_dir))
        publish_all(box.bootstrap, box.names.name, work.events)
        group = f"probe-{uuid.uuid4().hex[:8]}"
        workers = [Worker(box, log_dir, group, n, extra_env={"CLAIMDESK_LOG_LEVEL": "DEBUG",
                                                             **env})
                   for n in range(n_workers)]
        meter, sampler = CpuMeter(workers), LockSampler(box.dsn)
        for w in workers:
            w.start()
        while not box.scalar("SELECT count(*) FROM inbox"):  # start-up CPU is not drain CPU
            time.sleep(0.05)
        meter.start()
        sampler.start()
        try:
            _wait_inbox(box, workers, work.distinct(), 900, Progress({"drain": 1.0}), "drain")
            sampler.stop_flag.set()
            cpu = meter.stop()
        finally:
            for w in workers:
                w.stop()
        first, last = box.rows(f"SELECT extract(epoch FROM min(processed_at)), extract(epoch"
                               f" FROM max({_commit_expr(commit_ts)})) FROM inbox")[0]
        secs = float(last) - float(first)
        return {"phase": "drain", "workers": n_workers, "events": work.distinct(),
                "events_per_s": round(work.distinct() / secs, 1), "seconds": round(secs, 2),
                "cpu": cpu, "locks": sampler.report(),
                "rounds": [round_stats(w.log_path) for w in workers]}
    finally:
        if not os.environ.get("PROBE_KEEP"):
            box.drop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=["latency", "drain"])
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--events", type=int, default=40000)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker")
    args = p.parse_args(argv)
    env = dict(kv.split("=", 1) for kv in args.env)
    with bench_connections(load_settings()) as s:
        commit_ts = commit_timestamps_on(s.dsn())
        if args.phase == "latency":
            work = build_workload(int(args.rate * args.seconds) + 300)
            print(json.dumps(latency(s, work, args.rate, args.seconds, commit_ts, env),
                             indent=1), flush=True)
        else:
            work = build_workload(args.events)
            for n in (int(x) for x in args.workers.split(",")):
                print(json.dumps(drain(s, work, n, commit_ts, env), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
