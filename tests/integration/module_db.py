"""One event loop, one connection and one migrated schema for a whole test module.

Property tests (Hypothesis) run hundreds of examples; a fresh schema per example would cost
seconds each, so the rules-vs-SQL tests share this module-scoped database and roll back
every example instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from infra.db import migrate
from tests.integration.conftest import dsn_with_schema


@dataclass
class Db:
    """A connection and the event loop it lives on."""

    loop: asyncio.AbstractEventLoop
    conn: psycopg.AsyncConnection[Any]

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@contextmanager
def module_db(base_dsn: str, row_factory: Any = None) -> Iterator[Db]:
    """A schema of its own, migrated; dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = dsn_with_schema(base_dsn, schema)
    migrate(url)
    loop = asyncio.new_event_loop()
    extra = {"row_factory": row_factory} if row_factory is not None else {}
    conn = loop.run_until_complete(psycopg.AsyncConnection.connect(url, **extra))
    try:
        yield Db(loop, conn)
    finally:
        loop.run_until_complete(conn.close())
        loop.close()
        with psycopg.connect(base_dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
