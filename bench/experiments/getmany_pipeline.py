"""Experiment (not product code): the product's handlers fed by aiokafka ``getmany()``.

How fast does the batch hot path go without faust's per-event stream machinery? Same
events, same :class:`workers.pipeline.BatchProcessor` and batch handlers, same pool,
publisher, outbox relay and monitor tasks as ``claimdesk worker`` — only the consumer
differs: one ``AIOKafkaConsumer`` in a fresh group, ``getmany(max_records=…)``, records
grouped per topic and the four topics' batches applied concurrently (as the four faust
agents are), offsets committed after each round.

    .venv/bin/python -m bench.experiments.getmany_pipeline --events 200000
    .venv/bin/python -m bench.experiments.getmany_pipeline --events 60000 --profile 20

``--profile S`` attaches ``py-spy record`` to this process for S seconds of the drain and
prints the top frames (needs ``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.experiments.profile_drain import summarize
from bench.harness import _load_roster
from bench.stack import Sandbox, bench_connections
from bench.workload import build_workload, publish_all
from infra.settings import load_settings


async def drain(box: Sandbox, expected: int, max_records: int, tasks: bool,
                profile_s: int, profile_out: Path) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata
    from prometheus_client import CollectorRegistry

    from infra.outbox import run_relay
    from topics import INPUT_TOPICS
    from workers.bootstrap import build_runtime, handlers
    from workers.monitor.loop import run_monitor
    from workers.pipeline import BatchProcessor
    from workers.records import Record

    settings = load_settings().model_copy(update={
        "kafka_bootstrap_servers": box.bootstrap, "topic_prefix": box.names.prefix})
    from pydantic import SecretStr
    settings = settings.model_copy(update={"database_url": SecretStr(box.dsn)})
    runtime = build_runtime(settings, registry=CollectorRegistry())
    await runtime.start()
    assert runtime.pool is not None and runtime.publisher is not None
    hs = handlers()
    base_of = {box.names.name(b): b for b in INPUT_TOPICS if b in hs}
    procs = {b: BatchProcessor(b, hs[b], runtime.pool, runtime.publisher, runtime.names,
                               runtime.metrics, runtime.context) for b in INPUT_TOPICS if b in hs}
    background = []
    if tasks:
        background = [
            asyncio.create_task(run_relay(runtime.pool, runtime.publisher, runtime.names,
                                          runtime.metrics, runtime.stop_event)),
            asyncio.create_task(run_monitor(runtime.pool, runtime.context, runtime.metrics,
                                            runtime.stop_event)),
        ]
    consumer = AIOKafkaConsumer(
        *base_of, bootstrap_servers=box.bootstrap, group_id=f"exp-{os.getpid()}",
        enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
        heartbeat_interval_ms=1000, max_poll_records=max_records)
    await consumer.start()
    spy = None
    done = 0
    batches = 0
    first = None
    try:
        while done < expected:
            got = await consumer.getmany(timeout_ms=50, max_records=max_records)
            if not got:
                continue
            if first is None:
                first = time.perf_counter()
                if profile_s:
                    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                    spy = subprocess.Popen(
                        [exe, "record", "--pid", str(os.getpid()), "--duration",
                         str(profile_s), "--rate", "100", "--format", "raw", "-o",
                         str(profile_out)], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
            per_topic: dict[str, list[Record]] = {}
            offsets = {}
            for tp, msgs in got.items():
                per_topic.setdefault(base_of[tp.topic], []).extend(
                    Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
                    for m in msgs)
                offsets[tp] = OffsetAndMetadata(msgs[-1].offset + 1, "")
            await asyncio.gather(*(procs[b].process(r) for b, r in per_topic.items()))
            await consumer.commit(offsets)
            done += sum(len(r) for r in per_topic.values())
            batches += len(per_topic)
        seconds = time.perf_counter() - (first or time.perf_counter())
    finally:
        await consumer.stop()
        runtime.stop_event.set()
        for t in background:
            t.cancel()
        await runtime.stop()
        if spy is not None:
            spy.wait()
    return {"events": done, "seconds": round(seconds, 2),
            "events_per_s": round(done / seconds, 1) if seconds else None,
            "mean_batch": round(done / max(1, batches), 1), "max_records": max_records,
            "background_tasks": tasks}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--max-records", type=int, default=8000)
    p.add_argument("--no-tasks", action="store_true", help="without relay and monitor")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS")
    args = p.parse_args(argv)
    work = build_workload(args.events)
    tmp = Path(tempfile.mkdtemp(prefix="claimdesk-exp-"))
    with bench_connections(load_settings()) as s:
        box = Sandbox(s.bootstrap(), s.dsn(), "exp").create()
        try:
            asyncio.run(_load_roster(box.dsn, box, work.roster, tmp))
            publish_all(box.bootstrap, box.names.name, work.events)
            result = asyncio.run(drain(box, work.distinct(), args.max_records,
                                       not args.no_tasks, args.profile, tmp / "exp.raw"))
            result["inbox"] = box.scalar("SELECT count(*) FROM inbox")
            result["parked_left"] = box.scalar("SELECT count(*) FROM parked_events")
        finally:
            box.drop()
    print(json.dumps(result, indent=2))
    if args.profile and (tmp / "exp.raw").exists():
        print(summarize(tmp / "exp.raw"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
