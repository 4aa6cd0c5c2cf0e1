"""Rows recorded with the legacy ``data_hash`` format still tell duplicates from conflicts.

Issue 15 changed the digest format (``h2:``…). A row written before the upgrade keeps its
32-hex digest; a later event with the same business key and the same data must be a plain
duplicate (no ``conflicting_duplicate``), one with other data a conflicting one. Each
stored digest is rewritten to the former format (the reference function kept in
``tests/unit/test_data_hash_versions.py``) to stand for a pre-upgrade row. Seen failing
with ``same_data`` reduced to ``stored == digest``.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from schemas import INPUT_EVENTS
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from tests.integration.test_withdrawals import withdrawal
from tests.unit.test_data_hash_versions import reference_data_hash
from workers.roster import parse_roster, replace_roster

pytestmark = pytest.mark.integration
ROSTER = ("adjuster_id,name,province,cities,skills,capacity,active\n"
          "ADJ-1,李强,广东省,深圳市,auto,3,true\n")

#: topic, table, key column, key, event builder
CASES: list[tuple[str, str, str, str, Any]] = [
    ("case-reported", "cases", "case_id", "C-1", lambda: b.case("C-1")),
    ("dispatch-requested", "dispatches", "dispatch_id", "D-1", lambda: b.dispatch("D-1", "C-1")),
    ("review-completed", "reviews", "review_id", "R-1",
     lambda: b.review("R-1", "C-1", "initial", "approved", at=20, amount="100.00")),
    ("case-withdrawn", "withdrawals", "case_id", "C-2", lambda: withdrawal("C-2", at=30)),
]


def _q(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _legacy(topic: str, event: dict[str, Any]) -> str:
    return reference_data_hash(INPUT_EVENTS[topic].model_validate(event).data)


def _changed(event: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["id"] = str(uuid.uuid4())
    data = out["data"]
    for field in ("reported_at", "requested_at", "completed_at", "withdrawn_at"):
        if field in data:
            data[field] = data[field].replace(":00+08:00", ":01+08:00")
            return out
    raise AssertionError("no time field to change")


async def _run(dsn: str) -> dict[str, list[str]]:
    ctx = context(FakeClock(b.T0 + timedelta(hours=6)))
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    outcomes: dict[str, list[str]] = {}
    try:
        async with pool.connection() as conn:
            await replace_roster(conn, parse_roster(ROSTER), ctx)
            await conn.commit()
        await apply(pool, "case-reported", [b.case("C-2")], ctx)
        for topic, table, column, key, build in CASES:
            first = build()
            await apply(pool, topic, [first], ctx)
            stored = _q(dsn, f"SELECT data_hash FROM {table} WHERE {column} = %s", key)[0][0]
            assert stored.startswith("h2:")
            async with pool.connection() as conn:  # as if recorded before the upgrade
                await conn.execute(f"UPDATE {table} SET data_hash = %s WHERE {column} = %s",
                                   (_legacy(topic, first), key))
                await conn.commit()
            same = copy.deepcopy(first) | {"id": str(uuid.uuid4())}
            outcomes[topic] = await apply(pool, topic, [same], ctx)
            outcomes[topic] += await apply(pool, topic, [_changed(first)], ctx)
    finally:
        await pool.close()
    return outcomes


def test_a_resend_of_a_pre_upgrade_event_is_a_plain_duplicate(dsn: str) -> None:
    outcomes = asyncio.run(_run(dsn))
    assert outcomes == {topic: ["duplicate", "duplicate"] for topic, *_ in CASES}
    conflicts = _q(dsn, "SELECT subject_id, event_type FROM data_quality"
                   " WHERE kind = 'conflicting_duplicate' ORDER BY subject_id")
    # exactly one conflict per key: the changed event's, none for the same-data resend
    assert sorted(c[0] for c in conflicts) == sorted(key for *_, key, _ in CASES)
