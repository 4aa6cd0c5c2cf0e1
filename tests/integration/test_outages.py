"""Outages (SPEC §6): a transient failure is retried with backoff, then the partitions
pause (the consumer keeps polling) until the dependency is back — never dead-letter,
never skip, never crash-loop.

- Postgres stopped mid-run (20 s under CLAIMDESK_CHAOS_FULL, 12 s otherwise) and
  restarted: the same worker process resumes and loses nothing. The test runs its own
  embedded Postgres so that stopping it disturbs no other test.
- The broker unreachable when a worker starts: it waits, says so, and works as soon as
  the broker appears.
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from infra.db import migrate
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from infra.kafka import create_topics
from tests.integration.chaos_helpers import publish_events, read_output_topics
from tests.integration.conftest import PARKED_WAITING_SQL, WorkerProcess, wait_until
from tests.integration.test_lifecycle import load_roster
from topics import PAYOUT_APPROVED, TopicNames
from workers.simulate import generate, write_roster_csv

pytestmark = pytest.mark.integration

FULL = os.environ.get("CLAIMDESK_CHAOS_FULL") == "1"
OUTAGE_S = 20.0 if FULL else 12.0  # 5 attempts (≈ 10 s) pass before the pause


def _env(bootstrap: str, dsn: str, names: TopicNames, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
    env.update(KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=dsn,
               CLAIMDESK_TOPIC_PREFIX=names.prefix, CLAIMDESK_CONSUMER_GROUP=f"g-{names.prefix}",
               CLAIMDESK_DATA_DIR=str(tmp / "data"), CLAIMDESK_METRICS_PORT=str(free_port()))
    return env


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _stop_postgres(pg: EmbeddedPostgres) -> None:
    """``pg_ctl stop -m fast`` as pgserver's system user: every session is cut off."""
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.server.pgdata, user=pg.server.system_user)


def _start_postgres(pg: EmbeddedPostgres) -> None:
    """Start the same data directory again (same socket, so the same DSN)."""
    pg.server.ensure_postgres_running()


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")),
                    reason="stops its own embedded Postgres; DATABASE_URL points at a shared"
                           " server that must not be stopped")
def test_postgres_stopped_mid_run_pauses_then_resumes_without_loss(
    bootstrap: str, names: TopicNames, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cd-outage-")) / "pg",
                          delete_on_stop=True).start()
    stack: list[WorkerProcess] = []
    try:
        dsn = pg.dsn
        migrate(dsn)
        run = generate(700, seed=29, start=datetime.now(UTC) - timedelta(days=20),
                       spread=timedelta(days=1), dup_fraction=0.05, shuffle_window=200)
        distinct = len({e.event_id for e in run.events})
        env = _env(bootstrap, dsn, names, tmp_path)
        assert load_roster(env, write_roster_csv(tmp_path / "r.csv", run.roster)).returncode == 0
        worker = WorkerProcess(env, tmp_path / "worker.log").start()
        stack.append(worker)
        half = len(run.events) // 2
        publish_events(bootstrap, names, run.events[:half])
        # stop Postgres while the first half is being applied
        wait_until(lambda: _count(dsn, "SELECT count(*) FROM inbox") >= 200, timeout=90,
                   what="processing under way")
        _stop_postgres(pg)
        stopped = time.monotonic()
        publish_events(bootstrap, names, run.events[half:])  # arrives during the outage
        pid = worker.proc.pid if worker.proc else None
        wait_until(lambda: "pausing partitions until the dependency recovers" in worker.log(),
                   timeout=OUTAGE_S + 30, what="partitions paused")
        assert _get(worker.port, "/healthz")[0] == 503
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        assert worker.proc is not None and worker.proc.poll() is None, "worker died"
        _start_postgres(pg)
        assert pg.dsn == dsn

        wait_until(lambda: _count(dsn, "SELECT count(*) FROM inbox") >= distinct, timeout=180,
                   what=f"{distinct} distinct events applied after the outage")
        wait_until(lambda: _count(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                   == 0, timeout=60, what="outbox published")
        # the same process, alive all along, healthy again
        assert worker.proc.poll() is None and worker.proc.pid == pid
        wait_until(lambda: _get(worker.port, "/healthz")[0] == 200, timeout=30, what="healthy")
        log = worker.log()
        assert "transient failure" in log and "retrying in" in log
        assert "dependency recovered, resuming partitions" in log
        status, metrics = _get(worker.port, "/metrics")
        assert status == 200
        assert _metric_sum(metrics, "claimdesk_events_total", outcome="dead_lettered") == 0
        assert _metric_sum(metrics, "claimdesk_transient_errors_total") > 0

        # nothing lost, nothing applied twice: the simulator's own tally
        exp = run.expected
        assert _count(dsn, "SELECT count(*) FROM inbox") == distinct
        assert _count(dsn, PARKED_WAITING_SQL) == 0
        assert _count(dsn, "SELECT count(*) FROM rm_cases") == exp.cases
        with psycopg.connect(dsn) as conn:
            statuses = dict(conn.execute("SELECT case_id, status FROM rm_cases").fetchall())
            (count, total), = conn.execute(
                "SELECT count(*), coalesce(sum(amount), 0) FROM rm_payouts").fetchall()
            per_event = conn.execute(
                "SELECT count(*) FROM (SELECT source, event_id FROM rm_case_timeline"
                " WHERE outcome <> 'parked' GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
            ).fetchone()
        assert {c: s for c, s in exp.status.items() if statuses.get(c) != s} == {}
        assert (count, Decimal(total)) == (exp.payout_count, exp.payout_sum)
        assert per_event == (0,)
        # every payout reached the topic (re-publications possible, with the same ids)
        outputs = read_output_topics(bootstrap, names, dsn)
        assert len({o.event["data"]["payout_id"] for o in outputs[PAYOUT_APPROVED]}) == count
    finally:
        for w in stack:
            w.stop()
        pg.stop()


def test_unreachable_broker_at_start_is_waited_for_then_used(
    dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    names = TopicNames(f"t{uuid.uuid4().hex[:10]}.")
    run = generate(60, seed=31, start=datetime.now(UTC) - timedelta(days=3),
                   spread=timedelta(hours=6))
    env = _env(bootstrap, dsn, names, tmp_path)
    assert load_roster(env, write_roster_csv(tmp_path / "r.csv", run.roster)).returncode == 0
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    broker = EmbeddedBroker(port=port)
    try:
        wait_until(lambda: worker.log().count(f"broker {bootstrap} not reachable yet") >= 3,
                   timeout=60, what="the worker saying it waits for the broker")
        assert worker.proc is not None and worker.proc.poll() is None
        broker.start(tmp_path / "broker.log")
        assert broker.port == port
        create_topics(broker.bootstrap, names)
        publish_events(broker.bootstrap, names, run.events)
        distinct = len({e.event_id for e in run.events})
        wait_until(lambda: _count(dsn, "SELECT count(*) FROM inbox") >= distinct, timeout=120,
                   what="events applied once the broker is up")
        assert _count(dsn, "SELECT count(*) FROM rm_cases") == run.expected.cases
        wait_until(lambda: _get(worker.port, "/healthz")[0] == 200, timeout=30, what="healthy")
        assert worker.proc.poll() is None
    finally:
        worker.stop()
        broker.stop()
