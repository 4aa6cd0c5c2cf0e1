"""``catastrophe-declared``: keep every version, give covered cases their effective cat_code,
record late declarations, open or re-send the ``catastrophe`` alert (SPEC §4.5, §4.3).

Load → decide (pure rules in ``workers.rules.catastrophe``) → write. Ordering against the
case and review handlers: this handler takes the catastrophe lock exclusively, they take it
shared (:func:`lock_catastrophes`) before reading cases, so a case or an initial decision
committed concurrently is seen by exactly one side — the effective cat_code and the
``late_declaration`` record do not depend on which topic was consumed first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from schemas import (
    AlertData,
    CatastropheDeclared,
    alert_id,
    alert_opened_event_id,
    format_timestamp,
    scope_json,
)
from topics import ALERTS
from workers.context import HandlerContext
from workers.handlers.common import claim_batch
from workers.records import Incoming
from workers.rules.catastrophe import (
    Declaration,
    Incident,
    area_label,
    covered_at,
    effective_cat_code,
    is_late,
    latest_versions,
)
from workers.store.catastrophes import KIND, VERSION_COLUMNS, declaration_from_row, load_versions
from workers.store.effects import Effects, data_hash, flush, same_data

_LOCK = "catastrophes"
#: the catastrophe lock's key, for ``lock_subjects(..., then_shared=CATASTROPHE_LOCK)``
#: (case and review batches take it shared right after their subjects)
CATASTROPHE_LOCK = _LOCK
CST = timezone(timedelta(hours=8))


async def lock_catastrophes(conn: AsyncConnection[Any], exclusive: bool = False) -> None:
    """Take the catastrophe lock (shared by case/review batches, exclusive here)."""
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {fn}(hashtextextended(%s, 7))", (_LOCK,))


def declaration(d: CatastropheDeclared) -> Declaration:
    """The rule-level form of an event's data."""
    return Declaration(d.cat_code, d.name, d.peril.value,
                       tuple((a.province, a.city) for a in d.areas), d.occurred_from,
                       d.occurred_to, d.declared_at)


async def declared_cover_at(conn: AsyncConnection[Any], case_id: str, at: datetime) -> str | None:
    """cat_code of a declared catastrophe whose version in force at ``at`` covers the case."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {', '.join('v.' + c for c in VERSION_COLUMNS.split(', '))}, c.province, c.city,"
        " c.occurred_at FROM cases c JOIN catastrophe_versions v ON v.declared_at <= %s"
        " WHERE c.case_id = %s", (at, case_id))
    rows = await cur.fetchall()
    if not rows:
        return None
    incident = Incident(rows[0]["province"], rows[0]["city"], rows[0]["occurred_at"])
    return covered_at(incident, [declaration_from_row(r) for r in rows], at)


def effective_for(province: str, city: str, occurred_at: datetime,
                  latest: Iterable[Declaration]) -> str | None:
    """Declared cat_code of a new case without an insurer one."""
    return effective_cat_code(Incident(province, city, occurred_at), latest)


async def apply_catastrophe_declared_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of catastrophe.declared events; one outcome per event."""
    outcomes, todo = await claim_batch(conn, "catastrophe-declared", items)
    if not todo:
        return outcomes
    await lock_catastrophes(conn, exclusive=True)
    known = await _known(conn)
    fx = Effects()
    new: list[tuple[Declaration, Incoming, str]] = []
    for n, item in todo:
        d: CatastropheDeclared = item.data(CatastropheDeclared)
        digest = data_hash(d)
        key = (d.cat_code, d.declared_at)
        if key in known:
            outcomes[n] = "duplicate"
            if not same_data(known[key], digest, d):
                fx.dq("conflicting_duplicate", "catastrophe", d.cat_code,
                      "catastrophe.declared for a known (cat_code, declared_at) with different"
                      " data", item.event.type, item.source, item.event_id, d.declared_at)
            continue
        known[key] = digest
        new.append((declaration(d), item, digest))
    if new:
        await _insert(conn, new)
        versions = await load_versions(conn)
        codes = {v.cat_code for v, _, _ in new}
        await _recompute_cases(conn, codes, versions)
        await _late_declarations(conn, {v: item for v, item, _ in new}, versions, fx)
        await _alerts(conn, codes, versions, [v for v, _, _ in new], ctx, fx)
    await flush(conn, fx)
    return outcomes


async def _known(conn: AsyncConnection[Any]) -> dict[tuple[str, datetime], str]:
    cur = await conn.execute("SELECT cat_code, declared_at, data_hash FROM catastrophe_versions")
    return {(r[0], r[1]): r[2] for r in await cur.fetchall()}


async def _insert(conn: AsyncConnection[Any], new: list[tuple[Declaration, Incoming, str]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO catastrophe_versions (cat_code, declared_at, name, peril, areas,"
            " occurred_from, occurred_to, source, event_id, data_hash) VALUES"
            " (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)",
            [(v.cat_code, v.declared_at, v.name, v.peril,
              json.dumps([{"province": p, "city": c} for p, c in v.areas], ensure_ascii=False),
              v.occurred_from, v.occurred_to, item.source, item.event_id, digest)
             for v, item, digest in new])


async def _recompute_cases(conn: AsyncConnection[Any], codes: set[str], versions: list[Declaration]) -> None:
    """Give every case the catastrophes may touch its effective cat_code (latest versions)."""
    latest = list(latest_versions(versions).values())
    provinces = sorted({p for v in versions if v.cat_code in codes for p, _ in v.areas})
    cur = await conn.execute(
        "SELECT case_id, province, city, occurred_at, cat_code FROM cases"
        " WHERE insurer_cat_code IS NULL AND (province = ANY(%b) OR cat_code = ANY(%b))"
        " ORDER BY case_id", (provinces, sorted(codes)))
    changes = []
    for case_id, province, city, occurred_at, current in await cur.fetchall():
        eff = effective_for(province, city, occurred_at, latest)
        if eff != current:
            changes.append((case_id, eff))
    if changes:
        await conn.execute(
            "UPDATE cases c SET cat_code = u.code FROM unnest(%b::text[], %b::text[])"
            " AS u(id, code) WHERE c.case_id = u.id",
            ([c for c, _ in changes], [e for _, e in changes]))


async def _late_declarations(conn: AsyncConnection[Any], new: dict[Declaration, Incoming],
                             versions: list[Declaration], fx: Effects) -> None:
    """Covered cases whose initial decision was applied without a version that was in force
    at its completed_at: the decision stays (a payout cannot be recalled); data quality."""
    provinces = sorted({p for v in new for p, _ in v.areas})
    cur = await conn.execute(
        "SELECT c.case_id, c.province, c.city, c.occurred_at, r.completed_at, r.review_id"
        " FROM cases c JOIN reviews r ON r.case_id = c.case_id AND r.stage = 'initial'"
        " AND r.outcome = 'applied' WHERE c.province = ANY(%b) AND c.insurer_cat_code IS NULL"
        " AND NOT c.cat_mode", (provinces,))
    for case_id, province, city, occurred_at, decided_at, review_id in await cur.fetchall():
        incident = Incident(province, city, occurred_at)
        for v, item in new.items():
            if is_late(v, versions, incident, decided_at):
                fx.dq("late_declaration", "case", case_id,
                      f"catastrophe {v.cat_code} declared at {format_timestamp(v.declared_at)}"
                      f" covers the case; its initial decision ({review_id}) stays",
                      "catastrophe.declared", item.source, item.event_id, v.declared_at)


async def _alerts(conn: AsyncConnection[Any], codes: set[str], versions: list[Declaration],
                  new: list[Declaration], ctx: HandlerContext, fx: Effects) -> None:
    """Open the catastrophe alert, or re-send it (same id) for a newer latest version."""
    latest = latest_versions(versions)
    for code in sorted(codes):
        v = latest[code]
        if v not in new:
            continue  # an older version arrived late: the latest is unchanged
        scope = {"cat_code": code}
        cur = await conn.execute(
            "SELECT alert_id, opened_at, resolved_at FROM alerts WHERE kind = %s AND scope_key"
            " = %s ORDER BY opened_at DESC LIMIT 1", (KIND, scope_json(scope)))
        row = await cur.fetchone()
        covered = await _covered(conn, code)
        summary = (f"{v.name} ({v.peril}) declared {code} for {area_label(v.areas)} from"
                   f" {format_timestamp(v.occurred_from)}"
                   + (f" to {format_timestamp(v.occurred_to)}" if v.occurred_to else ", ongoing")
                   + f"; {covered} cases covered")
        if row is None:
            # the id's time part: the first declared_at, in +08:00 like surge window ids
            first = min(x.declared_at for x in versions if x.cat_code == code).astimezone(CST)
            aid = alert_id(KIND, scope, format_timestamp(first))
            await conn.execute(
                "INSERT INTO alerts (alert_id, kind, severity, scope, scope_key, summary, value,"
                " threshold, opened_at) VALUES (%s, %s, 'critical', %s::jsonb, %s, %s, %s, 0, %s)"
                " ON CONFLICT DO NOTHING", (aid, KIND, scope_json(scope), scope_json(scope),
                                            summary, covered, first))
            event_id, opened_at = alert_opened_event_id(aid, "critical"), first
        elif row[2] is None:
            aid, opened_at = row[0], row[1].astimezone(CST)
            await conn.execute("UPDATE alerts SET summary = %s, value = %s WHERE alert_id = %s",
                               (summary, covered, aid))
            event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"claimdesk:alert.opened:{aid}:critical:"
                                      f"{format_timestamp(v.declared_at)}"))
        else:
            continue  # resolved already; the version shows in rm_catastrophes
        data = AlertData(alert_id=aid, kind=KIND, severity="critical", scope=scope,
                         summary=summary, value=covered, threshold=0, opened_at=opened_at)
        fx.output("alert.opened", ALERTS, aid, data, event_id, ctx.clock())


async def _covered(conn: AsyncConnection[Any], code: str) -> int:
    cur = await conn.execute("SELECT count(*) FROM cases WHERE cat_code = %s", (code,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0
