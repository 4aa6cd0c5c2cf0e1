"""Declared catastrophes in Postgres (SPEC §4.5 v2): versions read by the
``catastrophe-declared`` handler and the case handlers, alerts resolved by the monitor
(here so that handlers and monitor never import each other)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from workers.context import HandlerContext
from workers.rules.catastrophe import Declaration, latest_versions, resolves_at
from workers.store.alerts import open_alerts, resolve
from workers.store.effects import Effects

KIND = "catastrophe"
VERSION_COLUMNS = "cat_code, name, peril, areas, occurred_from, occurred_to, declared_at"


def declaration_from_row(row: Mapping[str, Any]) -> Declaration:
    """A version read with ``dict_row`` (the ``VERSION_COLUMNS``, by name)."""
    areas = row["areas"] if isinstance(row["areas"], list) else json.loads(row["areas"])
    return Declaration(row["cat_code"], row["name"], row["peril"],
                       tuple((a["province"], a.get("city")) for a in areas),
                       row["occurred_from"], row["occurred_to"], row["declared_at"])


async def load_versions(conn: AsyncConnection[Any], at: datetime | None = None) -> list[Declaration]:
    """Every version (declared at or before ``at`` when given)."""
    where, args = ("WHERE declared_at <= %s", (at,)) if at is not None else ("", ())
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {VERSION_COLUMNS} FROM catastrophe_versions {where}", args)
    return [declaration_from_row(r) for r in await cur.fetchall()]


async def resolve_catastrophes(conn: AsyncConnection[Any], now: datetime, ctx: HandlerContext,
                               fx: Effects) -> None:
    """Resolve catastrophe alerts once the monitor's clock passes occurred_to + 72 h
    (of the latest version), with ``resolved_at`` = that instant."""
    open_rows = await open_alerts(conn, KIND)
    if not open_rows:
        return
    latest = latest_versions(await load_versions(conn))
    for row in open_rows.values():
        v = latest.get(row.scope.get("cat_code", ""))
        at = resolves_at(v) if v is not None else None
        if at is not None and now > at:
            await resolve(conn, row, at, ctx, fx)
