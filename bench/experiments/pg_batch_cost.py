"""What a batch costs on the Postgres side: statements, server CPU, client dump CPU.

    DATABASE_URL=postgresql://127.0.0.1:5432/test \
    .venv/bin/python -m bench.experiments.pg_batch_cost --events 20000

Replays ``build_workload(N)`` in-process (no Kafka) through the real handlers, in rounds
of ``--round`` records grouped by topic (the batch consumer's shape), one transaction per
topic batch, on a fresh schema of the system Postgres. Every ``execute`` is wrapped to
record, per calling function: statements, client wall time, the *backend's* CPU time
(``/proc/<backend pid>/schedstat``, ns; Postgres must run on this machine) and the client
CPU spent converting/dumping the parameters (``PostgresQuery.convert``, process_time).

Why: the worker shares two cores with Postgres, so Postgres's CPU per event limits the
drain as much as the worker's Python does; this shows where both go per statement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg._queries import PostgresQuery

from bench.workload import build_workload
from infra.db import migrate, open_pool
from schemas import INPUT_EVENTS
from topics import TopicNames
from workers.bootstrap import handlers
from workers.context import HandlerContext
from workers.records import Incoming, Record
from workers.rules.policy import PolicyBook

#: per caller: statements, wall s, server s, dump s, rows (length of the first array parameter)
STATS: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0])
CAPTURED: list[tuple[str, Any]] = []
#: per topic: batches, statements, records (to see a small batch's fixed cost: ``--round``)
BY_TOPIC: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
_TOPIC = [""]
TOPIC_CALLERS: dict[tuple[str, str], int] = defaultdict(int)


def _sched_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def _caller() -> str:
    f = sys._getframe(2)  # noqa: SLF001
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if (mod.startswith(("workers", "infra")) and not mod.startswith("infra.db")):
            return f"{f.f_code.co_name} ({mod.rsplit('.', 1)[-1]}:{f.f_lineno})"
        f = f.f_back
    return "?"


def _instrument(pids: dict[int, int]) -> None:
    orig_cur = AsyncCursor.execute
    orig_convert = PostgresQuery.convert

    def convert(self: Any, query: Any, vars: Any) -> None:  # noqa: A002
        t = time.process_time()
        orig_convert(self, query, vars)
        STATS["_dump_total"][3] += time.process_time() - t
        _last_dump[0] = time.process_time() - t

    _last_dump = [0.0]

    async def cur_execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        pid = pids.get(id(self.connection))
        if pid is None:  # not the replay's connection
            return await orig_cur(self, query, params, **kw)
        where = _caller()
        if where.startswith(("insert_rows", "update_rows")):  # one line per table
            where = f"{where.split(' ')[0]} {str(query).split()[2]}"
        elif where.startswith("apply_clock_ops"):  # one line per statement shape
            where = f"apply_clock_ops {str(query)[:24]}…{str(query)[-30:]}"
        s0, w0 = _sched_ns(pid), time.perf_counter()
        _last_dump[0] = 0.0
        out = await orig_cur(self, query, params, **kw)
        st = STATS[where]
        st[0] += 1
        BY_TOPIC[_TOPIC[0]][1] += 1
        TOPIC_CALLERS[_TOPIC[0], where] += 1
        st[1] += time.perf_counter() - w0
        st[2] += (_sched_ns(pid) - s0) / 1e9
        st[3] += _last_dump[0]
        first = params[0] if isinstance(params, (list, tuple)) and params else None
        st[4] += len(first) if isinstance(first, list) else 0
        if CAPTURE and params:
            CAPTURED.append((query if isinstance(query, str) else str(query), params))
        return out

    orig_many = AsyncCursor.executemany

    async def cur_executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
        # a pipeline of one statement per parameter row: counted as that many statements
        pid = pids.get(id(self.connection))
        if pid is None:
            return await orig_many(self, query, params_seq, **kw)
        rows = list(params_seq)
        where = f"{_caller()} [executemany]"
        s0, w0 = _sched_ns(pid), time.perf_counter()
        out = await orig_many(self, query, rows, **kw)
        st = STATS[where]
        st[0] += len(rows)
        st[1] += time.perf_counter() - w0
        st[2] += (_sched_ns(pid) - s0) / 1e9
        st[4] += len(rows)
        BY_TOPIC[_TOPIC[0]][1] += len(rows)
        TOPIC_CALLERS[_TOPIC[0], where] += len(rows)
        return out

    PostgresQuery.convert = convert  # type: ignore[method-assign]
    AsyncCursor.execute = cur_execute  # type: ignore[method-assign]
    AsyncCursor.executemany = cur_executemany  # type: ignore[method-assign]


CAPTURE = False
PLAIN = False  # no per-statement instrumentation (for profiling the replay itself)


def _incoming(topic: str, events: list[Any]) -> list[Incoming]:
    out = []
    for n, e in enumerate(events):
        try:
            ev = INPUT_EVENTS[topic].model_validate_json(e.value)
        except Exception:  # noqa: BLE001 - invalid input goes to the DLT in the product
            continue
        out.append(Incoming(Record(topic, 0, n, None, e.value), ev))
    return out


async def _replay(dsn: str, n: int, round_size: int, explain_ms: int = 0) -> dict[str, Any]:
    from bench.harness import _load_roster  # noqa: PLC0415

    work = build_workload(n)
    pool = await open_pool(dsn, max_size=1)
    pids: dict[int, int] = {}
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        pids[id(conn)] = (await cur.fetchone())[0]  # type: ignore[index]
        await conn.commit()
    await pool.close()

    class _Box:
        tag = "pgcost"
        names = TopicNames()
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415
    await _load_roster(dsn, _Box(), work.roster, Path(tempfile.mkdtemp()))  # type: ignore[arg-type]
    pool = await open_pool(dsn, max_size=1)
    ctx = HandlerContext(names=TopicNames(), policy=PolicyBook())
    hs = handlers()
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        pid = (await cur.fetchone())[0]  # type: ignore[index]
        pids[id(conn)] = pid
        if explain_ms:  # plans of slow statements into the server log (superuser only)
            await conn.execute("LOAD 'auto_explain'")
            await conn.execute(f"SET auto_explain.log_min_duration = {explain_ms}")
            await conn.execute("SET auto_explain.log_analyze = on")
        await conn.commit()
        STATS.clear()
        if not PLAIN:
            _instrument(pids)
        s0, c0, w0 = _sched_ns(pid), time.process_time(), time.perf_counter()
        batches = 0
        commit_server = 0.0
        for start in range(0, len(work.events), round_size):
            by_topic: dict[str, list[Any]] = {}
            for e in work.events[start:start + round_size]:
                by_topic.setdefault(e.topic, []).append(e)
            for topic, evs in by_topic.items():
                items = _incoming(topic, evs)
                _TOPIC[0] = topic
                await hs[topic](conn, items, ctx)
                _TOPIC[0] = ""
                BY_TOPIC[topic][0] += 1
                BY_TOPIC[topic][2] += len(items)
                c = _sched_ns(pid)
                await conn.commit()
                commit_server += (_sched_ns(pid) - c) / 1e9
                batches += 1
        server = (_sched_ns(pid) - s0) / 1e9
        client = time.process_time() - c0
        wall = time.perf_counter() - w0
    await pool.close()
    return {"events": len(work.events), "batches": batches, "server_s": server,
            "commit_server_s": commit_server, "client_cpu_s": client, "wall_s": wall}


def _row_classes() -> dict[str, type[Any]]:
    from workers.store.rows import Row, insert_sql  # noqa: PLC0415

    out, todo = {}, list(Row.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if "__table__" in vars(cls) or any("__table__" in vars(b) for b in cls.__mro__[1:-2]):
            with contextlib.suppress(TypeError):
                out[insert_sql(cls)] = cls
    return out


async def _rows_bench(dsn: str, repeat: int = 3) -> dict[str, list[float]]:
    """Per row kind: client CPU and backend CPU (s) of inserting the captured batches with
    the ``unnest`` statement vs binary COPY, in transactions rolled back."""
    from workers.store import rows as R  # noqa: PLC0415

    by_sql = _row_classes()
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    conn = await AsyncConnection.connect(dsn)
    await conn.execute("SET session_replication_role = replica")  # no FK checks: rows alone
    pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]  # type: ignore[index]
    for _ in range(repeat):
        for query, prm in CAPTURED:
            cls = by_sql.get(query)
            if cls is None or cls.__conflict__:
                continue
            rows = [cls(*vals) for vals in zip(*prm, strict=True)]
            st = out[cls.__table__]
            st[0] += len(rows) / repeat
            for k, use_copy in ((1, False), (3, True)):
                c, s = time.process_time(), _sched_ns(pid)
                if use_copy:
                    await R.copy_rows(conn, rows)
                else:
                    await conn.execute(R.insert_sql(cls), R.params(rows))
                st[k] += (time.process_time() - c) / repeat
                st[k + 1] += (_sched_ns(pid) - s) / 1e9 / repeat
                await conn.rollback()
    await conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    global CAPTURE, PLAIN  # noqa: PLW0603
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--round", type=int, default=4000,
                   help="records per round (the batch size; ~120 = a round at 1,000 ev/s)")
    p.add_argument("--json", default=None)
    p.add_argument("--explain-ms", type=int, default=0,
                   help="log plans of statements slower than this (auto_explain, server log)")
    p.add_argument("--plain", action="store_true", help="no per-statement instrumentation")
    p.add_argument("--no-copy", action="store_true", help="insert_rows never uses COPY")
    p.add_argument("--rows-bench", action="store_true",
                   help="also insert every captured append-only row batch again: unnest vs COPY")
    p.add_argument("--by-topic", action="store_true",
                   help="statements per batch of each topic by calling function")
    p.add_argument("--keep", action="store_true", help="keep the schema (printed)")
    args = p.parse_args(argv)
    CAPTURE = args.rows_bench
    PLAIN = args.plain
    base = os.environ["DATABASE_URL"]
    schema = f"pgcost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    dsn = f"{base}?options=-csearch_path%3D{schema}"
    try:
        migrate(dsn)
        if args.no_copy or args.rows_bench:  # every insert as its unnest statement
            from workers.store import rows  # noqa: PLC0415
            rows.COPY_MIN_ROWS = 1 << 30
        res = asyncio.run(_replay(dsn, args.events, args.round, args.explain_ms))
        if args.rows_bench:
            print(f"{'table':20} {'rows':>7} {'unnest client/server µs/row':>28}"
                  f" {'COPY client/server µs/row':>26}")
            with psycopg.connect(base, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}_rows")
            dsn2 = f"{base}?options=-csearch_path%3D{schema}_rows"
            migrate(dsn2)
            try:
                per_table = asyncio.run(_rows_bench(dsn2))
            finally:
                with psycopg.connect(base, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema}_rows CASCADE")
            for t, (n, uc, us, cc, cs) in per_table.items():
                print(f"{t:20} {n:7.0f} {uc / n * 1e6:14.2f} {us / n * 1e6:12.2f}"
                      f" {cc / n * 1e6:14.2f} {cs / n * 1e6:10.2f}")
    finally:
        if args.keep:
            print("kept schema", schema)
        else:
            with psycopg.connect(base, autocommit=True) as c:
                c.execute(f"DROP SCHEMA {schema} CASCADE")
    ev = res["events"]
    print(json.dumps(res))
    print(f"server CPU {res['server_s'] / ev * 1e6:.1f} µs/event (commit "
          f"{res['commit_server_s'] / ev * 1e6:.1f}), client CPU {res['client_cpu_s'] / ev * 1e6:.1f}"
          f" µs/event, dump {STATS['_dump_total'][3] / ev * 1e6:.1f} µs/event,"
          f" {sum(v[0] for k, v in STATS.items() if k != '_dump_total') / res['batches']:.1f}"
          " statements/batch")
    print(f"{'caller':60} {'stmts':>6} {'wall ms':>8} {'server ms':>9} {'dump ms':>8}"
          f" {'rows':>7} {'dump µs/row':>11}")
    for k, (n, w, s, d, r) in sorted(STATS.items(), key=lambda kv: -kv[1][2]):
        if k != "_dump_total":
            per = f"{d / r * 1e6:11.2f}" if r else ""
            print(f"{k:60} {n:6d} {w * 1e3:8.1f} {s * 1e3:9.1f} {d * 1e3:8.1f} {r:7d} {per}")
    print(f"{'topic':24} {'batches':>7} {'records/batch':>13} {'statements/batch':>16}")
    for t, (b, n, r) in BY_TOPIC.items():
        if b:
            print(f"{t:24} {b:7d} {r / b:13.1f} {n / b:16.2f}")
    if args.by_topic:  # statements per batch of each topic, by calling function
        for (t, where), n in sorted(TOPIC_CALLERS.items()):
            if BY_TOPIC[t][0]:
                print(f"  {t:20} {where:60} {n / BY_TOPIC[t][0]:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"result": res, "stats": STATS}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
