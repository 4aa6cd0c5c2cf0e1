"""Broker, Postgres and worker processes for the bench.

Every phase gets a fresh topic prefix and a fresh Postgres schema (:class:`Sandbox`), so
phases never see each other's data or consumer offsets.

Commit timestamps. Latency is measured to the commit of the event's transaction. On the
embedded stack the bench turns on ``track_commit_timestamp`` in *its own* Postgres data
directory (``$CLAIMDESK_DATA_DIR/bench``), so ``pg_xact_commit_timestamp(inbox.xmin)`` is
the real commit time of the transaction that claimed the event — no schema change, no
bench-only trigger in the product. With an external ``DATABASE_URL`` where that setting is
off, the bench falls back to ``inbox.processed_at`` (``now()``, the transaction *start*,
which understates latency by the transaction's duration) and says so in its results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from infra.db import migrate
from infra.embedded import EmbeddedPostgres, free_port, stop_process
from infra.kafka import create_topics
from infra.settings import Settings
from topics import TopicNames, all_topics


@contextmanager
def bench_connections(settings: Settings) -> Iterator[Settings]:
    """Concrete connections: the configured ones, else an embedded stack of the bench's own."""
    from workers.bootstrap import connections

    if not settings.embedded:
        yield settings
        return
    data_dir = settings.data_dir / "bench"
    _enable_commit_timestamps(data_dir.resolve() / "pg")
    with connections(settings.model_copy(update={"data_dir": data_dir})) as s:
        yield s


def _enable_commit_timestamps(pg_dir: Path) -> None:
    """Turn on ``track_commit_timestamp`` (needs a restart: start, set, stop)."""
    pg = EmbeddedPostgres(pg_dir).start()
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            on = conn.execute("SHOW track_commit_timestamp").fetchone()
            if on and on[0] == "on":
                return
            conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        pg.stop()


def commit_timestamps_on(dsn: str) -> bool:
    """Whether Postgres records commit timestamps."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW track_commit_timestamp").fetchone()
    return bool(row and row[0] == "on")


def dsn_with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (libpq ``options``)."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options={quote(f'-csearch_path={schema}')}"


@dataclass
class Sandbox:
    """A fresh topic prefix and Postgres schema for one phase."""

    bootstrap: str
    base_dsn: str
    tag: str
    names: TopicNames = field(init=False)
    schema: str = field(init=False)
    dsn: str = field(init=False)

    def __post_init__(self) -> None:
        run = uuid.uuid4().hex[:8]
        self.names = TopicNames(f"bench-{run}-{self.tag}.")
        self.schema = f"bench_{run}_{self.tag}"
        self.dsn = dsn_with_schema(self.base_dsn, self.schema)

    def create(self, migrate_schema: bool = True, topics: bool = True) -> Sandbox:
        """Create the schema (migrated) and every topic."""
        with psycopg.connect(self.base_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        if migrate_schema:
            migrate(self.dsn)
        if topics:
            create_topics(self.bootstrap, self.names)
        return self

    def drop(self) -> None:
        """Drop the schema and delete the topics (the embedded broker keeps them in memory)."""
        try:
            with psycopg.connect(self.base_dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        except psycopg.Error:
            pass
        try:
            from kafka.admin import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="bench-admin")
            try:
                existing = set(admin.list_topics())
                mine = [s.name for s in all_topics(self.names) if s.name in existing]
                if mine:
                    admin.delete_topics(mine)
            finally:
                admin.close()
        except Exception:  # cleanup is best effort: the broker may not support it
            pass

    def input_topics(self) -> list[str]:
        """Prefixed names of every input topic (the workload fills the v1 four and, since
        the simulator settles payouts, ``payment-settled``): the ceilings must read all the
        events the drain applied, or they wait for events that are not there."""
        from topics import INPUT_TOPICS

        return [self.names.name(t) for t in INPUT_TOPICS]

    def scalar(self, sql: str, params: Any = None) -> Any:
        """First column of the first row."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """All rows."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())


class Worker:
    """A real ``claimdesk worker`` subprocess bound to a sandbox."""

    def __init__(self, box: Sandbox, log_dir: Path, group: str, n: int = 0,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=box.bootstrap,
            DATABASE_URL=box.dsn,
            CLAIMDESK_TOPIC_PREFIX=box.names.prefix,
            CLAIMDESK_CONSUMER_GROUP=group,
            CLAIMDESK_DATA_DIR=str(log_dir / f"data-{box.tag}-{n}"),
            CLAIMDESK_METRICS_PORT=str(self.port),
            CLAIMDESK_LOG_LEVEL="WARNING",
        )
        env.update(extra_env or {})
        self.env = env
        self.log_path = log_dir / f"worker-{box.tag}-{n}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_wall = 0.0
        self.rss_samples: list[int] = []

    def start(self, argv: list[str] | None = None) -> Worker:
        """Spawn the process (returns at once)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                argv or [sys.executable, "-m", "workers.cli", "worker"], env=self.env,
                stdout=out, stderr=subprocess.STDOUT)
        self.started_wall = time.time()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample_rss(self) -> None:
        """Record the current RSS (a fallback where /proc's high-water mark is missing)."""
        try:
            import psutil

            self.rss_samples.append(int(psutil.Process(self.pid).memory_info().rss))
        except Exception:
            pass

    def peak_rss_bytes(self) -> int:
        """Peak resident set size so far: the kernel's VmHWM, else the highest sample."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return max(self.rss_samples, default=0)

    def metrics_text(self) -> str:
        """The worker's ``/metrics`` page ('' if unreachable)."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except Exception:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        stop_process(self.proc, 20)

    def log_tail(self, n: int = 30) -> str:
        """Last lines of the process log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def histogram_mean(metrics: str, name: str) -> float | None:
    """Mean of a Prometheus histogram summed over its label sets."""
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(name + "_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total / count if count else None
