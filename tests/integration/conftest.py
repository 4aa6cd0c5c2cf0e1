"""Integration fixtures on the real broker and Postgres.

One broker and one Postgres per session: ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``
when set (e.g. this machine's system Postgres), else the embedded stack. Each test gets
its own Postgres schema and topic prefix, so tests never see each other's data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from infra.db import migrate
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from infra.kafka import create_topics
from topics import TopicNames

pytestmark = pytest.mark.integration
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an integration test, marker or not (so that
    ``pytest -m "not integration"`` never needs a broker or Postgres)."""
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """The broker for the session."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        yield env
        return
    broker = EmbeddedBroker().start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def base_dsn() -> Iterator[str]:
    """The Postgres server for the session."""
    env = os.environ.get("DATABASE_URL")
    if env:
        yield env
        return
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="claimdesk-pg-")) / "pg", delete_on_stop=True)
    pg.start()
    try:
        yield pg.dsn
    finally:
        pg.stop()


def dsn_with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (libpq ``options``)."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def dsn(base_dsn: str) -> Iterator[str]:
    """A fresh, migrated schema for this test."""
    yield from fresh_schema(base_dsn)


def fresh_schema(base_dsn: str) -> Iterator[str]:
    """Create and migrate a new schema, yield its DSN, drop it (the body of ``dsn``; other
    fixtures that need a second schema use it too)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = dsn_with_schema(base_dsn, schema)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def names(bootstrap: str) -> TopicNames:
    """A unique topic prefix for this test, with every topic created."""
    names = TopicNames(f"t{uuid.uuid4().hex[:10]}.")
    create_topics(bootstrap, names)
    return names


#: Parked events that must have been applied once everything is consumed: every parked event
#: except a callback attempt whose callback was never requested. The simulator answers every
#: callback it can predict, but a dispatch callback is requested only when the dispatch had an
#: adjuster at survey (not when it was queued, or surveyed before its request arrived), so such
#: an attempt legitimately waits for good (SPEC §4.10).
PARKED_WAITING_SQL = (
    "SELECT count(*) FROM parked_events p WHERE p.subject_type <> 'callback'"
    " OR EXISTS (SELECT 1 FROM callbacks b WHERE b.callback_id = p.subject_id)")


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


class WorkerProcess:
    """A real ``claimdesk worker`` subprocess for one test."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = int(env["CLAIMDESK_METRICS_PORT"])

    def start(self) -> WorkerProcess:
        """Start the process (returns at once)."""
        out = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"], env=self.env, stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return self

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) and wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        (self.proc.kill if kill else self.proc.terminate)()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        """Everything the process logged so far."""
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker_env(bootstrap: str, dsn: str, names: TopicNames, tmp_path: Path) -> dict[str, str]:
    """Environment of a worker bound to this test's schema, prefix and consumer group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DATABASE_URL=dsn,
        CLAIMDESK_TOPIC_PREFIX=names.prefix,
        CLAIMDESK_CONSUMER_GROUP=f"g-{names.prefix}",
        CLAIMDESK_DATA_DIR=str(tmp_path / "data"),
        CLAIMDESK_METRICS_PORT=str(free_port()),
    )
    return env


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(**overrides: str) -> WorkerProcess:
        env = dict(worker_env, **overrides)
        if "CLAIMDESK_METRICS_PORT" not in overrides and started:
            env["CLAIMDESK_METRICS_PORT"] = str(free_port())
        w = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
