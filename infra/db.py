"""Postgres access: connection pool, migrations, unit of work.

Nothing connects at import time; :func:`open_pool` is called by the composition root.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from infra.errors import TransientError

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x636C616D  # arbitrary constant: one migrator at a time per database


def is_data_error(exc: BaseException) -> bool:
    """SQLSTATE class 22 (data exception) or 23 (integrity): the event, not the database, is bad."""
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, psycopg.Error) and state[:2] in ("22", "23")


def is_transient(exc: BaseException) -> bool:
    """Connection loss, shutdown, serialization failure, deadlock, a retriable broker error:
    retrying can succeed (the one classification ``infra.retry`` acts on)."""
    if isinstance(exc, (TransientError, psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(exc, OSError) or getattr(exc, "retriable", False) is True:
        return True  # retriable: kafka-python's and aiokafka's own flag on their errors
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("08", "40", "53", "57") or state == "55P03"


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every numbered ``infra/migrations/NNNN_name.sql``, in order."""
    out = []
    for entry in resources.files("infra.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(dsn: str) -> list[str]:
    """Apply pending migrations (idempotent, safe with several processes); returns applied names."""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                log.debug("applied migration %s", name)
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    if applied:  # one console line, not one per file
        log.info("applied %d migration(s): %s … %s", len(applied), applied[0], applied[-1])
    return applied


async def open_pool(dsn: str, *, min_size: int = 1, max_size: int = 6) -> AsyncConnectionPool:
    """Open an async pool; waits (bounded) for the first connection."""
    pool = AsyncConnectionPool(
        dsn, min_size=min_size, max_size=max_size, open=False, kwargs={"autocommit": False}
    )
    await pool.open(wait=False)
    return pool


class UnitOfWork:
    """One Postgres transaction; rolls back unless :meth:`commit` was called."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.committed = False

    def cursor(self) -> psycopg.AsyncCursor[Any]:
        """A cursor on the transaction's connection."""
        return self.conn.cursor()

    async def commit(self) -> None:
        """Commit the transaction."""
        await self.conn.commit()
        self.committed = True


@asynccontextmanager
async def unit_of_work(
    pool: AsyncConnectionPool, timeout: float | None = None
) -> AsyncIterator[UnitOfWork]:
    """A transaction from the pool (waiting at most ``timeout`` s for a connection, the
    pool's default when None); anything not committed is rolled back."""
    async with pool.connection(timeout=timeout) as conn:
        uow = UnitOfWork(conn)
        try:
            yield uow
        finally:
            if not uow.committed and not conn.closed:
                await conn.rollback()
