"""Parking (SPEC §4.1): reviews whose case or complaint is not known yet wait in Postgres."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from workers.handlers.review_apply import ReviewFacts
from workers.store.effects import Effects
from workers.store.tables import ParkedRow


def park(fx: Effects, facts: ReviewFacts, subject_type: str, subject_id: str) -> str:
    """Park ``facts`` until ``subject_type``/``subject_id`` arrives; returns the outcome."""
    fx.parked.append(ParkedRow(facts.source, facts.event_id, subject_type, subject_id,
                      facts.completed_at, json.dumps(facts.payload(), ensure_ascii=False)))
    fx.reviews[facts.review_id] = facts.row("parked")
    fx.timeline.append(facts.timeline("parked", f"waiting for {subject_type} {subject_id}"))
    return "parked"


async def take_parked(conn: AsyncConnection[Any], subject_type: str,
                      subject_ids: set[str]) -> list[ReviewFacts]:
    """Parked reviews for the given subjects, in data-time then event-id order.

    The caller holds the subjects' locks and deletes the rows via ``fx.unparked``.
    """
    if not subject_ids:
        return []
    cur = await conn.execute(
        "SELECT payload FROM parked_events WHERE subject_type = %s AND subject_id = ANY(%b)"
        " ORDER BY data_time, event_id",
        (subject_type, list(subject_ids)),
    )
    return [ReviewFacts.from_payload(row[0]) for row in await cur.fetchall()]
