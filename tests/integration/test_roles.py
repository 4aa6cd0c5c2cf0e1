"""Database roles of migration 0006 (SPEC §8), tested by connecting as them.

Each test makes throw-away LOGIN roles (unique names, no password: the embedded pgserver and
the local system Postgres trust local connections), grants them a claimdesk group role and
connects *as* them — so what is checked is what Postgres enforces, not what the catalog says.
The login roles are dropped at the end; the group roles are cluster-wide and stay.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from infra.db import migrate
from tests.integration.conftest import dsn_with_schema, wait_until
from tests.integration.kafka_helpers import publish
from topics import TopicNames
from workers.simulate import generate, publish_run, write_roster_csv

pytestmark = pytest.mark.integration

GROUPS = ("claimdesk_reader", "claimdesk_pii", "claimdesk_worker")
#: Tables only the migrating user touches.
OWNER_ONLY = {"schema_migrations"}


def dsn_as(dsn: str, user: str) -> str:
    """``dsn`` (URL or key=value, search_path kept) with another user and no password."""
    return make_conninfo(dsn, user=user, password="")


@pytest.fixture
def login_role(base_dsn: str) -> Iterator[Callable[..., str]]:
    """Make LOGIN roles that belong to the given group roles; all dropped at the end.

    Request this fixture before ``start_worker`` so workers stop before their role goes.
    """
    made: list[str] = []

    def make(*groups: str) -> str:
        name = f"cd_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{name}" LOGIN')
            made.append(name)
            for group in groups:
                conn.execute(f'GRANT "{group}" TO "{name}"')
        return name

    yield make
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _schema(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None and row[0].startswith("t_")
    return str(row[0])


def _relations(dsn: str) -> dict[str, str]:
    """name → relkind ('r' table, 'v' view) of the test schema."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
            " AND c.relkind IN ('r', 'v', 'm', 'p')").fetchall()
    return {name: kind for name, kind in rows}


def _denied(conn: psycopg.Connection[Any], sql: str) -> bool:
    """True if ``sql`` fails with insufficient_privilege (the transaction is rolled back)."""
    try:
        conn.execute(sql)
    except errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.rollback()
    return False


def _seed_case(dsn: str) -> None:
    """One case and its vault row, written as the owner."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO cases (case_id, insurer, report_no, policy_no_masked, line, channel,"
            " province, city, cause, status, stage, estimated_amount, reported_at, occurred_at,"
            " updated_at, source, event_id, data_hash) VALUES ('C-ROLE-1', 'PICC', 'R1',"
            " '****4567', 'auto', 'app', '广东省', '深圳市', 'collision', 'reported', 'survey',"
            " 100, now(), now(), now(), 'test', 'e1', 'h')")
        conn.execute(
            "INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields) VALUES"
            " ('case', 'C-ROLE-1', 'test', 'e1', '{\"reporter_phone\": \"13812345678\"}')")


def test_reader_role_selects_every_view_and_nothing_else(
    dsn: str, login_role: Callable[..., str]
) -> None:
    _seed_case(dsn)
    reader = login_role("claimdesk_reader")
    relations = _relations(dsn)
    views = sorted(n for n, k in relations.items() if n.startswith("rm_"))
    assert len(views) >= 11
    with psycopg.connect(dsn_as(dsn, reader)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (reader,)
        assert conn.execute("SELECT case_id, policy_no_masked FROM rm_cases").fetchall() == [
            ("C-ROLE-1", "****4567")]
        conn.rollback()
        for view in views:
            conn.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
            conn.rollback()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM pii_vault")
        conn.rollback()
        for name in sorted(set(relations) - set(views)):
            assert _denied(conn, f"SELECT * FROM {name} LIMIT 1"), f"reader can read {name}"
        assert _denied(conn, "INSERT INTO inbox (source, event_id, topic) VALUES ('a', 'b', 'c')")
        assert _denied(conn, "UPDATE cases SET status = 'approved'")
        assert _denied(conn, "UPDATE sla_clocks SET stopped_at = now()")


def test_only_the_pii_role_reads_the_vault(dsn: str, login_role: Callable[..., str]) -> None:
    _seed_case(dsn)
    pii, nobody = login_role("claimdesk_pii"), login_role()
    with psycopg.connect(dsn_as(dsn, pii)) as conn:
        rows = conn.execute("SELECT subject_id, fields->>'reporter_phone'"
                            " FROM pii_vault").fetchall()
        assert rows == [("C-ROLE-1", "13812345678")]
        conn.rollback()
        assert _denied(conn, "DELETE FROM pii_vault")
        assert _denied(conn, "SELECT * FROM cases")
    schema = _schema(dsn)
    with psycopg.connect(dsn_as(dsn, nobody)) as conn:  # PUBLIC has nothing, not even USAGE
        assert _denied(conn, f'SELECT * FROM "{schema}".pii_vault')
        assert _denied(conn, f'SELECT * FROM "{schema}".rm_cases')


def test_worker_role_writes_its_tables_but_cannot_read_the_vault_or_change_the_schema(
    dsn: str, login_role: Callable[..., str]
) -> None:
    _seed_case(dsn)
    worker = login_role("claimdesk_worker")
    with psycopg.connect(dsn_as(dsn, worker)) as conn:
        conn.execute("INSERT INTO inbox (source, event_id, topic)"
                     " VALUES ('s', 'e2', 'case-reported')")
        conn.execute("INSERT INTO outbox (topic, key, value, event_id)"  # bigserial: sequence
                     " VALUES ('alerts', 'k', '\\x7b7d', 'o1')")
        conn.execute("INSERT INTO case_timeline (case_id, event_type, event_time, source,"
                     " event_id, outcome) VALUES ('C-ROLE-1', 'case.reported', now(), 's', 'e2',"
                     " 'applied')")
        conn.execute("INSERT INTO sla_clocks (subject_type, subject_id, clock, insurer, line,"
                     " province, started_at, window_s, warn_s, due_at, warn_at) VALUES ('case',"
                     " 'C-ROLE-1', 'survey', 'PICC', 'auto', '广东省', now(), 60, 48, now(), now())")
        conn.execute("UPDATE sla_clocks SET stopped_at = now() WHERE subject_id = 'C-ROLE-1'")
        conn.execute("UPDATE cases SET status = 'dispatched' WHERE case_id = 'C-ROLE-1'")
        # the two ways the worker writes the vault: event PII and the roster's upsert
        conn.execute("INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields)"
                     " VALUES ('case', 'C-ROLE-2', 's', 'e2', '{\"a\": 1}') ON CONFLICT DO NOTHING")
        for _ in range(2):
            conn.execute(
                "INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields)"
                " VALUES ('adjuster', 'ADJ-1', 'roster', 'current', %s::jsonb) ON CONFLICT"
                " (subject_type, subject_id, source, event_id) DO UPDATE SET fields = %s::jsonb",
                ('{"name": "张伟"}', '{"name": "张伟"}'))
        assert conn.execute("SELECT count(*) FROM rm_cases").fetchone() == (1,)  # ops page
        conn.commit()
        assert _denied(conn, "SELECT fields FROM pii_vault")
        assert _denied(conn, "SELECT * FROM pii_vault")
        assert _denied(conn, "SELECT count(*) FROM pii_vault WHERE fields ? 'reporter_phone'")
        assert _denied(conn, "DELETE FROM pii_vault")
        assert _denied(conn, "DROP TABLE inbox")
        assert _denied(conn, "DROP TABLE pii_vault")
        assert _denied(conn, "DROP VIEW rm_cases")
        assert _denied(conn, "TRUNCATE cases")
        assert _denied(conn, "ALTER TABLE cases ADD COLUMN x int")
        assert _denied(conn, "CREATE TABLE stolen AS SELECT 1 AS x")
        conn.execute("GRANT SELECT ON pii_vault TO PUBLIC")  # not the owner: a no-op warning
        conn.commit()
        assert _denied(conn, "SELECT fields FROM pii_vault")
    with psycopg.connect(dsn) as conn:  # the writes above did land
        assert conn.execute("SELECT count(*) FROM pii_vault").fetchone() == (3,)
        assert conn.execute("SELECT status FROM cases").fetchone() == ("dispatched",)


def test_grants_cover_every_table_and_view_and_the_migration_is_rerunnable(
    dsn: str, base_dsn: str
) -> None:
    """A later migration that adds a table or view without grants fails here."""
    relations = _relations(dsn)
    schema = _schema(dsn)
    with psycopg.connect(dsn) as conn:
        def has(role: str, rel: str, priv: str) -> bool:
            row = conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                               (role, f'"{schema}"."{rel}"', priv)).fetchone()
            return bool(row and row[0])

        for rel, kind in sorted(relations.items()):
            if rel.startswith("rm_"):
                assert has("claimdesk_reader", rel, "SELECT"), rel
                assert has("claimdesk_worker", rel, "SELECT"), rel
            else:
                assert not has("claimdesk_reader", rel, "SELECT"), rel
            if kind == "r" and rel not in OWNER_ONLY | {"pii_vault"}:
                for priv in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    assert has("claimdesk_worker", rel, priv), (rel, priv)
            for group in GROUPS:
                for priv in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                    assert not has(group, rel, priv), (group, rel, priv)
        assert has("claimdesk_pii", "pii_vault", "SELECT")
        assert not has("claimdesk_worker", "pii_vault", "SELECT")  # table-level: no
        row = conn.execute("SELECT has_column_privilege('claimdesk_worker', 'pii_vault',"
                           " 'fields', 'SELECT')").fetchone()
        assert row == (False,)
        public = conn.execute(
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.relname = 'pii_vault'"
            " AND c.relnamespace = current_schema()::regnamespace AND a.grantee = 0").fetchone()
        assert public == (0,)
        # the plpgsql clock twin PUBLIC could not EXECUTE is gone (migration 0009)
        assert conn.execute("SELECT to_regproc('sla_clock_op')").fetchone() == (None,)
        for group in GROUPS:
            row = conn.execute("SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb"
                               " FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
            assert row == (False, False, False, False), group
        conn.commit()
    # the migrations again for a second schema (0006 must run after 0001-0005 there, not in
    # this schema: 0009 dropped a function it grants on): roles exist, grants apply again
    second = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{second}"')
    try:
        migrate(dsn_with_schema(base_dsn, second))
        assert _relations(dsn_with_schema(base_dsn, second)) == relations
        with psycopg.connect(base_dsn) as conn:
            for rel in relations:
                row = conn.execute("SELECT has_table_privilege('claimdesk_reader', %s, 'SELECT')",
                                   (f'"{second}"."{rel}"',)).fetchone()
                assert row == (rel.startswith("rm_"),), rel
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{second}" CASCADE')
    assert _relations(dsn) == relations


def _get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_a_worker_running_as_the_worker_role_processes_a_simulated_run(
    login_role: Callable[..., str], bootstrap: str, names: TopicNames, dsn: str,
    worker_env: dict[str, str], start_worker: Any, tmp_path: Path,
) -> None:
    """The worker role has what the worker needs: consumers, relay, sweeper, monitor,
    ops page, ``roster load`` — with no permission error anywhere. v2: the relay fills
    customer notices' PII through a separate PII-role connection (SPEC §8)."""
    role = login_role("claimdesk_worker")
    as_role = dsn_as(dsn, role)
    as_pii = dsn_as(dsn, login_role("claimdesk_pii"))
    env = dict(worker_env, DATABASE_URL=as_role)
    run = generate(60, seed=23, start=datetime.now(UTC) - timedelta(days=3),
                   spread=timedelta(days=2), dup_fraction=0.05, shuffle_window=50)
    roster = write_roster_csv(tmp_path / "roster.csv", run.roster)
    loaded = subprocess.run([sys.executable, "-m", "workers.cli", "roster", "load", str(roster)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    worker = start_worker(DATABASE_URL=as_role, CLAIMDESK_PII_DATABASE_URL=as_pii)
    publish_run(bootstrap, names, run)
    publish(bootstrap, names.name("complaint-filed"), [("K-1", b'{"not": "an event"}')])
    distinct = len({e.event_id for e in run.events})

    def count(sql: str) -> int:
        with psycopg.connect(dsn) as conn:  # as the owner
            row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: count("SELECT count(*) FROM inbox") >= distinct, timeout=120,
               what=f"{distinct} events in the inbox")
    wait_until(lambda: count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
               and count("SELECT count(*) FROM outbox") > 0, what="outbox relayed")
    wait_until(lambda: count("SELECT count(*) FROM monitor_runs") > 0, what="monitor ran")
    wait_until(lambda: count("SELECT count(*) FROM sla_clocks WHERE breached_at IS NOT NULL") > 0,
               what="sweeper marked breaches")
    assert count("SELECT count(*) FROM inbox") == distinct
    assert count("SELECT count(*) FROM pii_vault WHERE subject_type = 'adjuster'") == \
        len(run.roster)
    assert count("SELECT count(*) FROM cases") == run.expected.cases
    assert count("SELECT count(*) FROM outbox WHERE topic = 'customer-notices'") > 0
    status, page = _get(worker.port, "/")
    assert status == 200 and "<html" in page.lower()
    assert _get(worker.port, "/metrics")[0] == 200
    assert worker.proc is not None and worker.proc.poll() is None
    log = worker.log() + loaded.stdout + loaded.stderr
    for bad in ("permission denied", "InsufficientPrivilege", "must be owner", "Traceback"):
        assert bad not in log, bad
