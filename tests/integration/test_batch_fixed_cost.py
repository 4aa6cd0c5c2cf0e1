"""A small batch's fixed statements, merged (issue 15, latency): same locks, same rows.

A round applies its topic batches one after the other, and with 5–50 records a batch's
cost is mostly statements that run whatever its size. Some were merged:

- ``lock_subjects(..., then_shared=CATASTROPHE_LOCK)``: the case/review batch's subject
  locks *and* the catastrophe lock (shared, after them) in one statement; this checks
  both are held (a declaration's exclusive lock and the subjects' locks must wait);
- ``cases._take_parked``: parked reviews and withdrawals of the new cases in one query;
  compared with the two former queries (:func:`take_parked`,
  :func:`take_parked_withdrawals`, kept as the reference) on random parked rows;
- ``cases._known_hashes`` also returns the first dispatch times (the former
  ``_first_dispatches`` query is kept here as the reference).
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from workers.handlers import cases
from workers.handlers.catastrophes import CATASTROPHE_LOCK
from workers.handlers.common import lock_subjects
from workers.handlers.parking import take_parked
from workers.handlers.review_apply import ReviewFacts
from workers.handlers.withdrawals import PARK_SUBJECT, WithdrawalFacts, take_parked_withdrawals

pytestmark = pytest.mark.integration


def _try(dsn: str, sql: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute(sql).fetchone()
        assert row is not None
        return bool(row[0])


def test_subject_locks_then_the_catastrophe_lock_are_held(dsn: str) -> None:
    async def go() -> None:
        conn = await psycopg.AsyncConnection.connect(dsn)
        try:
            await lock_subjects(conn, ["case:C-1"], shared=["routing"],
                                then_shared=CATASTROPHE_LOCK)
            # a declaration (exclusive catastrophe lock) must wait; a case batch need not
            assert not _try(dsn, "SELECT pg_try_advisory_xact_lock(hashtextextended("
                            "'catastrophes', 7))")
            assert _try(dsn, "SELECT pg_try_advisory_xact_lock_shared(hashtextextended("
                        "'catastrophes', 7))")
            assert not _try(dsn, "SELECT pg_try_advisory_xact_lock(hashtextextended("
                            "current_schema() || '/case:C-1', 7))")
            assert not _try(dsn, "SELECT pg_try_advisory_xact_lock(hashtextextended("
                            "current_schema() || '/routing', 7))")
            assert _try(dsn, "SELECT pg_try_advisory_xact_lock_shared(hashtextextended("
                        "current_schema() || '/routing', 7))")
            await conn.rollback()
            # no subjects at all (a batch of inbox duplicates): the catastrophe lock alone
            await lock_subjects(conn, [], then_shared=CATASTROPHE_LOCK)
            assert not _try(dsn, "SELECT pg_try_advisory_xact_lock(hashtextextended("
                            "'catastrophes', 7))")
            await conn.rollback()
        finally:
            await conn.close()

    asyncio.run(go())


async def _first_dispatches(conn: Any, ids: set[str]) -> dict[str, Any]:
    """The former query (reference)."""
    cur = await conn.execute(
        "SELECT case_id, min(requested_at) FROM dispatches WHERE case_id = ANY(%b)"
        " AND requested_at IS NOT NULL GROUP BY case_id", (list(ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}


def test_merged_reads_equal_the_former_queries(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # compare the parked rows themselves (which rows, in which order), not their parsing
    monkeypatch.setattr(ReviewFacts, "from_payload", staticmethod(lambda p: p))
    monkeypatch.setattr(WithdrawalFacts, "from_payload", staticmethod(lambda p: p))
    rng = random.Random(15)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    ids = [f"C-{n}" for n in range(40)]
    with psycopg.connect(dsn, autocommit=True) as c:
        for n, case_id in enumerate(ids[:15]):  # known cases
            c.execute("INSERT INTO cases (case_id, insurer, report_no, policy_no_masked, line,"
                      " channel, province, city, cause, status, stage, cat_mode, injuries,"
                      " estimated_amount, reported_at, occurred_at, updated_at, source,"
                      " event_id, data_hash, owner) VALUES (%s, 'PA', %s, 'x', 'auto', 'app',"
                      " 'p', 'c', 'x', 'reported', 'survey', false, 0, 1, %s, %s, %s, 's', %s,"
                      " %s, 'o')", (case_id, f"R{n}", t0, t0, t0, f"e{n}", f"h{n}"))
        for n in range(60):  # dispatches, some without requested_at
            c.execute("INSERT INTO dispatches (dispatch_id, case_id, status, requested_at)"
                      " VALUES (%s, %s, 'queued', %s)",
                      (f"D-{n}", rng.choice(ids),
                       None if rng.random() < 0.2 else t0 + timedelta(minutes=rng.randrange(50))))
        for n in range(80):  # parked reviews/withdrawals/others, ties in data_time
            kind = rng.choice(["case", PARK_SUBJECT, "complaint", "payout"])
            payload = (_review(n) if kind in ("case", "complaint") else _withdrawal(n))
            c.execute("INSERT INTO parked_events (source, event_id, subject_type, subject_id,"
                      " data_time, payload) VALUES ('s', %s, %s, %s, %s, %s)",
                      (f"ev-{rng.randrange(10**6):06d}-{n}", kind, rng.choice(ids),
                       t0 + timedelta(minutes=rng.randrange(5)), json.dumps(payload)))

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for _ in range(20):
                some = set(rng.sample(ids, rng.randrange(0, 20)))
                reviews, withdrawals = await cases._take_parked(conn, some)  # noqa: SLF001
                assert reviews == await take_parked(conn, "case", some)
                assert withdrawals == await take_parked_withdrawals(conn, some)
                known, first = await cases._known_hashes(conn, some)  # noqa: SLF001
                assert first == (await _first_dispatches(conn, some) if some else {})
                assert known == {i: f"h{ids.index(i)}" for i in some if ids.index(i) < 15}

    asyncio.run(go())


def _review(n: int) -> dict[str, Any]:
    return {"n": n}


def _withdrawal(n: int) -> dict[str, Any]:
    return {"n": n}


async def _ensure_states_before(conn: Any, first: dict[tuple[str, str], datetime],
                                policy: Any) -> None:
    """The former ``surge._ensure_states`` (reference): one INSERT per scope, pipelined."""
    rows = sorted((t, k, w - policy.surge.window, w) for (t, k), w in first.items())
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO surge_state (scope_type, scope_key, last_closed_window, first_window)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
    await conn.execute(
        "UPDATE surge_state s SET first_window = u.w FROM unnest(%b::text[], %b::text[],"
        " %b::timestamptz[]) AS u(t, k, w) WHERE s.scope_type = u.t AND s.scope_key = u.k"
        " AND (s.first_window IS NULL OR s.first_window > u.w)",
        ([r[0] for r in rows], [r[1] for r in rows], [r[3] for r in rows]))


def test_surge_states_one_insert_equals_the_pipeline(dsn: str) -> None:
    from workers.rules.policy import PolicyBook  # noqa: PLC0415
    from workers.store import surge  # noqa: PLC0415

    policy = PolicyBook().default
    rng = random.Random(7)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    keys = [(t, f"k{n}") for t in ("city", "insurer") for n in range(12)]

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for _ in range(15):
                batches = [{k: t0 + timedelta(hours=rng.randrange(48))
                            for k in rng.sample(keys, rng.randrange(1, 10))} for _ in range(4)]
                seen = []
                for fn in (_ensure_states_before, surge._ensure_states):  # noqa: SLF001
                    await conn.execute("DELETE FROM surge_state")
                    await conn.execute(  # some scopes known already, first_window NULL or set
                        "INSERT INTO surge_state (scope_type, scope_key, first_window)"
                        " VALUES ('city', 'k1', NULL), ('insurer', 'k2', %s)", (t0,))
                    for first in batches:
                        await fn(conn, first, policy)
                    cur = await conn.execute(
                        "SELECT scope_type, scope_key, last_closed_window, first_window,"
                        " baseline, level, calm_windows FROM surge_state ORDER BY 1, 2")
                    seen.append(await cur.fetchall())
                    await conn.rollback()
                assert seen[0] == seen[1]

    asyncio.run(go())
