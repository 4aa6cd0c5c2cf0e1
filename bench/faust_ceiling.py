"""Ceiling (c): a trivial faust agent on the input topics, no processing (run as a process).

``--mode default``: faust's default settings (JSON value serializer, default buffers,
per-event ``async for``). The only settings given are the ones that make faust start on
the dev broker and next to other processes, none of which touch the per-event path:
a 6 s session timeout (Tansu holds every JoinGroup for session_timeout / 2), its own web
port and data directory, no leader topic and no topic declaration.

``--mode claimdesk``: the faust tuning of the v1 worker's agents (``FAUST_TUNING`` below:
raw serializers, poll and buffer sizes, commit interval) and their ``take_events``
batching, still with no processing: the ceiling of a tuned faust agent. (The worker no
longer consumes through faust since issue 15; kept so results stay comparable.)

Prints nothing; writes ``{"events", "seconds", "events_per_s"}`` to ``--out`` once
``--expect`` events were seen (first event → last event) and keeps running until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: the v1 worker's faust agent settings (workers/app.py before issue 15)
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.05
FAUST_TUNING: dict[str, Any] = dict(
    broker_commit_interval=0.5,
    broker_max_poll_records=5000,
    stream_buffer_maxsize=8192,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topics", required=True, help="comma-separated topic names")
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--datadir", required=True)
    p.add_argument("--mode", choices=("default", "claimdesk"), default="default")
    args = p.parse_args(argv)

    import faust

    brokers = ";".join(f"kafka://{b.strip()}" for b in args.bootstrap.split(","))
    common: dict[str, Any] = dict(
        broker=brokers, broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
        web_port=args.port, web_bind="127.0.0.1", datadir=args.datadir, autodiscover=False,
        topic_disable_leader=True, topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
    )
    if args.mode == "claimdesk":
        common.update(FAUST_TUNING)
    app = faust.App(args.group, **common)
    state = {"n": 0, "first": 0.0, "written": False}

    def seen(k: int) -> None:
        if not state["n"]:
            state["first"] = time.perf_counter()
        state["n"] += k
        if state["n"] >= args.expect and not state["written"]:
            seconds = time.perf_counter() - state["first"]
            tmp = Path(args.out + ".tmp")
            tmp.write_text(json.dumps({"events": state["n"], "seconds": seconds,
                                       "events_per_s": state["n"] / seconds if seconds else None}))
            os.replace(tmp, args.out)
            state["written"] = True

    for name in args.topics.split(","):
        if args.mode == "claimdesk":
            topic = app.topic(name, value_type=bytes, key_type=bytes, value_serializer="raw",
                              key_serializer="raw")

            async def agent(stream: Any) -> None:
                async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                    seen(len(events))
        else:
            topic = app.topic(name)

            async def agent(stream: Any) -> None:
                async for _value in stream:
                    seen(1)

        agent.__name__ = "count_" + name.replace("-", "_").replace(".", "_")
        app.agent(topic, name=agent.__name__)(agent)

    worker = faust.Worker(app, loglevel="warning", override_logging=False)
    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
