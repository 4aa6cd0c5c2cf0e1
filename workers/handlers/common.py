"""Pieces every batch handler uses: inbox claim, timeline rows, subject locks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection

from workers.records import Incoming
from workers.store.effects import TimelineRow

#: The whole routing state. Taken *exclusively* by work that routes in every province at
#: once (roster loads); every per-province routing transaction takes it *shared* (through
#: ``lock_subjects(..., shared=[ROUTING_LOCK])``) and then :func:`lock_routing` for its
#: provinces, so workers routing different provinces never wait for each other (routing
#: never crosses a province, SPEC §4.2) while a roster load still excludes them all.
ROUTING_LOCK = "routing"


def routing_lock(province: str) -> str:
    """Subject key of one province's routing state (roster loads, queue, assignments)."""
    return f"routing:{province}"


async def claim_inbox(conn: AsyncConnection[Any], topic: str, items: Sequence[Incoming]) -> list[bool]:
    """Record each (source, id) in the inbox; True where the event is new.

    Within one batch the first occurrence of an identity wins.
    """
    seen: set[tuple[str, str]] = set()
    firsts: list[tuple[str, str]] = []
    for item in items:
        ident = (item.source, item.event_id)
        if ident not in seen:
            seen.add(ident)
            firsts.append(ident)
    cur = await conn.execute(
        "INSERT INTO inbox (source, event_id, topic)"
        " SELECT s, i, %s FROM unnest(%b::text[], %b::text[]) AS u(s, i)"
        " ON CONFLICT DO NOTHING RETURNING source, event_id",
        (topic, [s for s, _ in firsts], [i for _, i in firsts]),
    )
    fresh = {(r[0], r[1]) for r in await cur.fetchall()}
    out = []
    for item in items:
        ident = (item.source, item.event_id)
        out.append(ident in fresh)
        fresh.discard(ident)
    return out


async def claim_batch(conn: AsyncConnection[Any], topic: str, items: Sequence[Incoming]
                      ) -> tuple[list[str], list[tuple[int, Incoming]]]:
    """Claim the batch in the inbox: (outcome per event, the new events with their index).

    Outcomes start as ``applied`` for new events and ``duplicate`` for seen identities;
    handlers overwrite them (``duplicate`` for a known business id, ``parked``, ...).
    """
    fresh = await claim_inbox(conn, topic, items)
    outcomes = ["applied" if f else "duplicate" for f in fresh]
    return outcomes, [(n, i) for n, (i, f) in enumerate(zip(items, fresh, strict=True)) if f]


def timeline_row(item: Incoming, outcome: str, detail: str | None = None) -> TimelineRow:
    """The timeline row of an input event."""
    data = item.event.data
    # by the model's fields: getattr(data, name, None) on a model without the field went
    # through pydantic's __getattr__ and an AttributeError per event
    fields = type(data).model_fields
    return TimelineRow(
        case_id=data.case_id if "case_id" in fields else None,  # type: ignore[attr-defined]
        complaint_id=(data.complaint_id  # type: ignore[attr-defined]
                      if "complaint_id" in fields else None),
        event_type=item.event.type,
        event_time=data.data_time,
        source=item.source,
        event_id=item.event_id,
        outcome=outcome,
        detail=detail,
    )


async def lock_subjects(conn: AsyncConnection[Any], keys: Iterable[str], shared: Iterable[str] = (),
                        then_shared: str | None = None) -> None:
    """Take transaction-level advisory locks on subjects, in one global order.

    Every handler locks its subjects (``case:<id>``, ``complaint:<id>``, ``routing``)
    through here, sorted by lock key, so concurrent workers never deadlock on them and
    a check-then-park never races the arrival of the case it waits for. ``shared`` keys
    are taken in shared mode (unless also in ``keys``). Keys are scoped by the schema
    (advisory locks are per database), so deployments — and tests — in different schemas
    of one database never wait for each other's subjects. ``then_shared``: a database-wide
    key (not schema-scoped, e.g. the catastrophe lock) taken shared *after* the subjects,
    in the same statement — the order a separate statement right after would give, one
    round trip less per batch.
    """
    modes = dict.fromkeys(shared, True) | dict.fromkeys(keys, False)
    if then_shared is not None:
        # the subquery's ORDER BY runs before the outer target list takes the locks
        await conn.execute(
            "SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k)"
            " END FROM (SELECT k, s FROM (SELECT hashtextextended(current_schema() || '/' || x, 7)"
            " AS k, bool_and(s) AS s, false AS last FROM unnest(%b::text[], %b::bool[]) AS u(x, s)"
            " GROUP BY 1 UNION ALL SELECT hashtextextended(%b, 7), true, true) AS v"
            " ORDER BY last, k) AS t",
            (list(modes), list(modes.values()), then_shared),
        )
    elif modes:
        await conn.execute(
            "SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k)"
            " END FROM (SELECT hashtextextended(current_schema() || '/' || x, 7) AS k,"
            " bool_and(s) AS s FROM"
            " unnest(%b::text[], %b::bool[]) AS u(x, s) GROUP BY 1 ORDER BY 1) AS t",
            (list(modes), list(modes.values())),
        )


async def lock_routing(conn: AsyncConnection[Any], provinces: Iterable[str]) -> None:
    """Exclusive routing locks of ``provinces``, taken *after* the transaction's subject
    locks (which include :data:`ROUTING_LOCK`, shared): every transaction takes its
    province locks last, so the lock order stays global and deadlock-free."""
    await lock_subjects(conn, [routing_lock(p) for p in provinces])
