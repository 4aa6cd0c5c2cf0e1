"""``claimdesk roster load FILE``: replace the adjuster roster atomically (CSV or JSON).

A bad row rejects the whole file with its line number; adjusters that disappear keep
their open dispatches (they only stop receiving new ones); queued dispatches are
drained against the new capacity in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from workers.rules.masking import mask_name

FIELDS = ("adjuster_id", "name", "province", "cities", "skills", "capacity", "active")
SKILLS = frozenset({"auto", "property", "cargo", "liability", "health", "agriculture",
                    "heavy_vehicle"})


@dataclass(frozen=True)
class RosterRow:
    """One adjuster of the roster file."""

    adjuster_id: str
    name: str
    province: str
    cities: tuple[str, ...]
    skills: tuple[str, ...]
    capacity: int
    active: bool


def parse_roster(text: str, filename: str = "roster") -> list[RosterRow]:
    """Parse CSV (header as the contract sample) or a JSON list; raise ``ConfigError``."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{filename}: invalid JSON at line {exc.lineno}") from exc
        return _rows([(n + 1, item) for n, item in enumerate(items)], filename, "item")
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{filename}: line 1: header lacks {', '.join(missing)}")
    return _rows([(reader.line_num, row) for row in reader], filename, "line")


def _rows(numbered: list[tuple[int, Any]], filename: str, unit: str) -> list[RosterRow]:
    out: list[RosterRow] = []
    seen: set[str] = set()
    for n, raw in numbered:
        try:
            row = _row(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{filename}: {unit} {n}: {exc}") from None
        if row.adjuster_id in seen:
            raise ConfigError(f"{filename}: {unit} {n}: adjuster_id repeated")
        seen.add(row.adjuster_id)
        out.append(row)
    return out


def _split(value: Any) -> tuple[str, ...]:
    parts = value if isinstance(value, list) else str(value).split(";")
    return tuple(str(p).strip() for p in parts if str(p).strip())


def _row(raw: Any) -> RosterRow:
    if not isinstance(raw, dict):
        raise TypeError("expected an object with " + ", ".join(FIELDS))
    for f in FIELDS:
        if raw.get(f) in (None, ""):
            raise ValueError(f"{f} is required")
    skills = _split(raw["skills"])
    bad = [s for s in skills if s not in SKILLS]
    if bad or not skills:
        raise ValueError(f"skills must be among {', '.join(sorted(SKILLS))}")
    text = str(raw["capacity"]).strip()
    if not text.isdigit() or isinstance(raw["capacity"], bool):
        raise ValueError("capacity must be a whole number ≥ 0")
    capacity = int(text)
    active = raw["active"]
    if isinstance(active, str):
        if active.strip().lower() not in ("true", "false"):
            raise ValueError("active must be true or false")
        active = active.strip().lower() == "true"
    if not isinstance(active, bool):
        raise ValueError("active must be true or false")
    cities = _split(raw["cities"])
    if not cities:
        raise ValueError("cities is required")
    return RosterRow(str(raw["adjuster_id"]).strip(), str(raw["name"]).strip(),
                     str(raw["province"]).strip(), cities, skills, capacity, active)


async def replace_roster(conn: Any, rows: list[RosterRow], ctx: Any) -> int:
    """Replace the roster in the caller's transaction and drain queues; returns assigned."""
    from workers.handlers.common import ROUTING_LOCK, lock_subjects
    from workers.handlers.routing import drain
    from workers.store.effects import Effects, flush

    await lock_subjects(conn, [ROUTING_LOCK])
    await conn.execute("UPDATE adjusters SET in_roster = false")
    vault_names = [json.dumps({"name": r.name}, ensure_ascii=False) for r in rows]
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO adjusters (adjuster_id, name_masked, province, cities, skills, capacity,"
            " active, in_roster) VALUES (%s, %s, %s, %s, %s, %s, %s, true)"
            " ON CONFLICT (adjuster_id) DO UPDATE SET name_masked = EXCLUDED.name_masked,"
            " province = EXCLUDED.province, cities = EXCLUDED.cities, skills = EXCLUDED.skills,"
            " capacity = EXCLUDED.capacity, active = EXCLUDED.active, in_roster = true",
            [(r.adjuster_id, mask_name(r.name), r.province, list(r.cities), list(r.skills),
              r.capacity, r.active) for r in rows])
        await cur.executemany(
            "INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields)"
            " VALUES ('adjuster', %s, 'roster', 'current', %s::jsonb) ON CONFLICT"
            " (subject_type, subject_id, source, event_id) DO UPDATE SET fields = %s::jsonb",
            # the value again, not EXCLUDED.fields: reading EXCLUDED needs SELECT on the
            # vault's PII column, which the worker role must not have (0006_roles.sql)
            [(r.adjuster_id, name, name) for r, name in zip(rows, vault_names, strict=True)])
    fx = Effects()
    displaced = await displace(conn)
    provinces = {r.province for r in rows} | {d.province for d in displaced}
    ids = frozenset(d.dispatch_id for d in displaced)
    assigned: set[str] = set()
    count = await drain(conn, provinces, ctx.clock(), ctx, fx, displaced=ids,
                        assigned_ids=assigned)
    announce_queued_again(fx, [d for d in displaced if d.dispatch_id not in assigned], ctx)
    await flush(conn, fx)
    return count


@dataclass(frozen=True)
class Displaced:
    """An assigned, not yet surveyed dispatch whose adjuster left the roster or became
    inactive; it is queued again with its original urgency and requested_at."""

    dispatch_id: str
    case_id: str
    province: str
    survey_due_by: Any
    reassigned: int  # this re-routing included


async def displace(conn: Any) -> list[Displaced]:
    """Queue again the dispatches of adjusters who are absent or inactive now (SPEC §4.2 v2).

    The survey clock is not touched: it keeps running from the original ``requested_at``.
    The caller holds the routing lock, so no assignment races this.
    """
    cur = await conn.execute(
        "UPDATE dispatches d SET status = 'queued', adjuster_id = NULL,"
        " reassigned = d.reassigned + 1 FROM adjusters a"
        " WHERE a.adjuster_id = d.adjuster_id AND d.status = 'assigned'"
        " AND NOT (a.active AND a.in_roster)"
        " RETURNING d.dispatch_id, d.case_id, d.province, d.survey_due_by, d.reassigned")
    return [Displaced(*r) for r in await cur.fetchall()]


def announce_queued_again(fx: Any, displaced: list[Displaced], ctx: Any) -> None:
    """``reassigned`` with a null adjuster for the displaced dispatches no one could take."""
    from workers.handlers.routing import Announcement, announce
    from workers.rules.routing import RouteDecision

    for d in sorted(displaced, key=lambda d: d.dispatch_id):
        decision = RouteDecision(None, "adjuster left the roster or became inactive;"
                                       " queued again")
        announce(fx, Announcement(d.dispatch_id, d.case_id, decision, d.survey_due_by,
                                  d.reassigned, displaced=True), ctx)


def read_roster_file(path: Path) -> list[RosterRow]:
    """Read and parse a roster file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_roster(text, str(path))
