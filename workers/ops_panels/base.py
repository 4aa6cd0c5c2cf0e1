"""The ops page's panel mechanism: a panel is one query step plus one pure rendering step.

Every panel module in :mod:`workers.ops_panels` exposes ``PANELS`` (a list of :class:`Panel`);
the page discovers them, so adding a panel is adding a module — no shared list to edit, no
merge conflicts between the engineers who add panels. All panels of one page load share one
read-only transaction (one consistent snapshot); each panel runs inside its own savepoint so a
failing panel (a table another migration has not created yet, a timeout) shows as
"unavailable" without taking the rest of the page down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import psycopg

from workers.rules.policy import Policy

Row = tuple[Any, ...]
T = TypeVar("T")


class Reader:
    """Runs a panel's read-only SQL in the page's transaction (psycopg ``%s`` parameters)."""

    def __init__(self, cursor: psycopg.AsyncCursor[Row]) -> None:
        self._cur = cursor

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        """All rows of ``sql``."""
        await self._cur.execute(sql, args)
        return list(await self._cur.fetchall())

    async def row(self, sql: str, *args: Any) -> Row:
        """The single row of an aggregate query."""
        rows = await self.rows(sql, *args)
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0]


@dataclass(frozen=True)
class PageTime:
    """The page's clock: ``now`` (aware UTC) and ``today`` (its Asia/Shanghai calendar day);
    ``policy``: the default policy (thresholds a panel draws)."""

    now: datetime
    today: date
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class Panel(Generic[T]):
    """One block of the ops page.

    ``fetch`` reads (only ``rm_*`` views and plumbing tables, never ``pii_vault``) and returns
    plain data; ``render`` turns that data into one ``<section>`` (pure, escapes everything it
    shows — see :mod:`workers.ops_panels.html`). ``order`` places it on the page (ascending,
    then ``name``).
    """

    name: str
    order: int
    fetch: Callable[[Reader, PageTime], Awaitable[T]]
    render: Callable[[T, PageTime], str]
