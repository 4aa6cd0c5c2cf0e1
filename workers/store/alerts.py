"""Alert lifecycle in Postgres: at most one open alert per (kind, scope), events via outbox.

Escalation to critical re-sends ``alert.opened`` with the same ``alert_id``; a condition
must be false on ``resolve_after`` consecutive checks before the alert resolves (no flapping).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from schemas import (
    AlertData,
    Staffing,
    alert_id,
    alert_opened_event_id,
    alert_resolved_event_id,
    format_timestamp,
    scope_json,
)
from topics import ALERTS
from workers.context import HandlerContext
from workers.store.effects import Effects

_RANK = {"warning": 0, "critical": 1}


@dataclass(frozen=True)
class Condition:
    """A condition that is true now for one scope."""

    scope: dict[str, str]
    severity: str
    value: float
    threshold: float
    summary: str
    staffing: Staffing | None = None

    @property
    def key(self) -> str:
        """The scope as sorted JSON (the uniqueness key)."""
        return scope_json(self.scope)


@dataclass(frozen=True)
class OpenAlert:
    """An open alert row."""

    alert_id: str
    kind: str
    severity: str
    scope: dict[str, str]
    scope_key: str
    summary: str
    value: float
    threshold: float
    opened_at: datetime
    clear_checks: int
    staffing: dict[str, Any] | None


async def open_alerts(conn: AsyncConnection[Any], kind: str) -> dict[str, OpenAlert]:
    """Open alerts of ``kind`` by scope key (locked for this transaction)."""
    cur = conn.cursor(row_factory=class_row(OpenAlert))
    await cur.execute(
        "SELECT alert_id, kind, severity, scope, scope_key, summary, value, threshold, opened_at,"
        " clear_checks, staffing FROM alerts WHERE kind = %s AND resolved_at IS NULL FOR UPDATE",
        (kind,))
    return {r.scope_key: r for r in await cur.fetchall()}


def _data(kind: str, aid: str, c: Condition, opened_at: datetime,
          resolved_at: datetime | None = None) -> AlertData:
    return AlertData(alert_id=aid, kind=kind, severity=c.severity, scope=c.scope,
                     summary=c.summary, value=c.value, threshold=c.threshold,
                     opened_at=opened_at, resolved_at=resolved_at, staffing=c.staffing)


async def open_alert(conn: AsyncConnection[Any], kind: str, c: Condition, opened_at: datetime, label: str,
                     ctx: HandlerContext, fx: Effects) -> bool:
    """Open an alert unless one is open for (kind, scope); ``label`` makes the id."""
    aid = alert_id(kind, c.scope, label)
    staffing = c.staffing.model_dump(mode="json") if c.staffing else None
    cur = await conn.execute(
        "INSERT INTO alerts (alert_id, kind, severity, scope, scope_key, summary, value,"
        " threshold, staffing, opened_at) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s,"
        " %s::jsonb, %s) ON CONFLICT DO NOTHING RETURNING alert_id",
        (aid, kind, c.severity, json.dumps(c.scope, ensure_ascii=False), c.key, c.summary,
         c.value, c.threshold, json.dumps(staffing) if staffing else None, opened_at))
    if await cur.fetchone() is None:
        return False
    fx.output("alert.opened", ALERTS, aid, _data(kind, aid, c, opened_at),
              alert_opened_event_id(aid, c.severity), ctx.clock())
    return True


async def escalate(conn: AsyncConnection[Any], row: OpenAlert, c: Condition, ctx: HandlerContext,
                   fx: Effects) -> bool:
    """Raise severity (never lowers it); re-sends alert.opened with the same id."""
    if _RANK[c.severity] <= _RANK[row.severity]:
        return False
    await conn.execute(
        "UPDATE alerts SET severity = %s, summary = %s, value = %s, threshold = %s"
        " WHERE alert_id = %s", (c.severity, c.summary, c.value, c.threshold, row.alert_id))
    fx.output("alert.opened", ALERTS, row.alert_id, _data(row.kind, row.alert_id, c,
                                                          row.opened_at),
              alert_opened_event_id(row.alert_id, c.severity), ctx.clock())
    return True


async def resolve(conn: AsyncConnection[Any], row: OpenAlert, at: datetime, ctx: HandlerContext,
                  fx: Effects) -> None:
    """Resolve an open alert and announce it."""
    await conn.execute("UPDATE alerts SET resolved_at = %s WHERE alert_id = %s",
                       (at, row.alert_id))
    staffing = Staffing(**row.staffing) if row.staffing else None
    c = Condition(row.scope, row.severity, row.value, row.threshold, row.summary, staffing)
    fx.output("alert.resolved", ALERTS, row.alert_id,
              _data(row.kind, row.alert_id, c, row.opened_at, at),
              alert_resolved_event_id(row.alert_id), ctx.clock())


async def reconcile(conn: AsyncConnection[Any], kind: str, conditions: list[Condition], now: datetime,
                    resolve_after: int, ctx: HandlerContext, fx: Effects) -> None:
    """Open, escalate, hold or resolve the alerts of ``kind`` after one check."""
    current = await open_alerts(conn, kind)
    seen: set[str] = set()
    for c in conditions:
        seen.add(c.key)
        row = current.get(c.key)
        if row is None:
            await open_alert(conn, kind, c, now, format_timestamp(now), ctx, fx)
            continue
        await escalate(conn, row, c, ctx, fx)
        if row.clear_checks:
            await conn.execute("UPDATE alerts SET clear_checks = 0 WHERE alert_id = %s",
                               (row.alert_id,))
    for key, row in current.items():
        if key in seen:
            continue
        if row.clear_checks + 1 >= resolve_after:
            await resolve(conn, row, now, ctx, fx)
        else:
            await conn.execute("UPDATE alerts SET clear_checks = clear_checks + 1"
                               " WHERE alert_id = %s", (row.alert_id,))
