"""Four-eyes review (SPEC §4.3 v2) and complaint closing/extension (§4.7 v2), in-process on
real Postgres, through the real handlers (any batch split and topic order)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context

pytestmark = pytest.mark.integration


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    return pool


def _run(dsn: str, steps: list[tuple[str, list[dict[str, Any]]]]) -> list[list[str]]:
    async def scenario() -> list[list[str]]:
        pool = await _pool(dsn)
        try:
            ctx = context(FakeClock(b.T0 + timedelta(days=1)))
            return [await apply(pool, topic, events, ctx) for topic, events in steps]
        finally:
            await pool.close()
    return asyncio.run(scenario())


@pytest.mark.parametrize("one_batch", [True, False])
def test_second_and_joint_reviews_by_an_earlier_decider_are_refused(
    dsn: str, one_batch: bool
) -> None:
    reviews = [
        b.review("R-I", "C-4E", "initial", "approved", at=60, amount="8000.00", reviewer="A"),
        b.review("R-II-A", "C-4E", "second", "approved", at=90, amount="8000.00", reviewer="A"),
        b.review("R-II-B", "C-4E", "second", "escalated", at=100, reviewer="B"),
        b.review("R-J-A", "C-4E", "joint", "approved", at=110, amount="8000.00", reviewer="A"),
        b.review("R-J-B", "C-4E", "joint", "approved", at=120, amount="8000.00", reviewer="B"),
        b.review("R-J-C", "C-4E", "joint", "approved", at=130, amount="8000.00", reviewer="C"),
    ]
    steps = [("case-reported", [b.case("C-4E", amount="8000.00")])]
    steps += [("review-completed", reviews)] if one_batch else [
        ("review-completed", [r]) for r in reviews]
    out = _run(dsn, steps)
    flat = [o for batch in out[1:] for o in batch]
    assert flat == ["applied", "refused", "applied", "refused", "refused", "applied"]
    assert _rows(dsn, "SELECT status FROM rm_cases") == [("approved",)]
    dq = _rows(dsn, "SELECT kind, event_id FROM rm_data_quality ORDER BY data_time")
    ids = {r["data"]["review_id"]: r["id"] for r in reviews}
    assert dq == [("same_reviewer", ids["R-II-A"]), ("same_reviewer", ids["R-J-A"]),
                  ("same_reviewer", ids["R-J-B"])]
    timeline = _rows(dsn, "SELECT outcome, detail FROM rm_case_timeline WHERE event_id = %s",
                     ids["R-II-A"])
    assert timeline[0][0] == "refused" and "four-eyes" in timeline[0][1]


def test_parked_reviews_obey_four_eyes_when_their_case_arrives(dsn: str) -> None:
    reviews = [
        b.review("R-I", "C-P", "initial", "approved", at=60, amount="8000.00", reviewer="A"),
        b.review("R-II", "C-P", "second", "approved", at=90, amount="8000.00", reviewer="A"),
    ]
    out = _run(dsn, [("review-completed", reviews),
                     ("case-reported", [b.case("C-P", amount="8000.00")])])
    assert out[0] == ["parked", "parked"]
    assert _rows(dsn, "SELECT review_id, outcome FROM rm_reviews ORDER BY review_id") == [
        ("R-I", "applied"), ("R-II", "refused")]
    assert _rows(dsn, "SELECT status FROM rm_cases") == [("second_review",)]


def test_closing_a_complaint_closes_the_ones_merged_into_it(dsn: str) -> None:
    out = _run(dsn, [
        ("complaint-filed", [b.complaint("CP-1", "C-1", at=10),
                             b.complaint("CP-2", "C-1", at=20)]),
        ("complaint-filed", [b.complaint("CP-3", "C-1", at=30)]),
        # addressed to a merged complaint: closes its target and every merged one
        ("review-completed", [b.review("RC-1", None, "complaint", "upheld", at=60,
                                       complaint_id="CP-3")]),
        ("review-completed", [b.review("RC-2", None, "complaint", "dismissed", at=70,
                                       complaint_id="CP-1")]),
    ])
    assert out[2:] == [["applied"], ["refused"]]
    rows = _rows(dsn, "SELECT complaint_id, status, merged_into, closed_at IS NOT NULL"
                      " FROM rm_complaints ORDER BY 1")
    assert rows == [("CP-1", "upheld", None, True), ("CP-2", "upheld", "CP-1", True),
                    ("CP-3", "upheld", "CP-1", True)]
    assert _rows(dsn, "SELECT count(*) FROM sla_clocks WHERE clock = 'complaint'"
                      " AND stopped_at IS NULL") == [(0,)]


def test_extensions_move_due_at_keep_reached_marks_and_stop_at_the_limit(dsn: str) -> None:
    day = 24 * 60
    out = _run(dsn, [
        ("complaint-filed", [b.complaint("CP-X", "C-X", at=0)]),
        ("review-completed", [
            # day 13: the warning (day 12) was reached and stays; due → day 30
            b.review("RX-1", None, "complaint", "extended", at=13 * day, complaint_id="CP-X"),
            # day 29: due → day 60; the warning instant does not move
            b.review("RX-2", None, "complaint", "extended", at=29 * day, complaint_id="CP-X"),
            b.review("RX-3", None, "complaint", "extended", at=30 * day, complaint_id="CP-X"),
        ]),
        ("complaint-filed", [b.complaint("CP-L", None, at=0)]),
        ("review-completed", [
            b.review("RL-1", None, "complaint", "extended", at=15 * day, complaint_id="CP-L")]),
    ])
    assert out[1] == ["applied", "applied", "refused"] and out[3] == ["refused"]
    rows = _rows(dsn, "SELECT complaint_id, status, due_at, extended_at FROM rm_complaints"
                      " ORDER BY 1")
    t0 = b.T0
    assert rows == [("CP-L", "open", t0 + timedelta(days=15), None),
                    ("CP-X", "open", t0 + timedelta(days=60), t0 + timedelta(days=29))]
    clock = _rows(dsn, "SELECT due_at, warned_at, breached_at FROM rm_sla_clocks"
                       " WHERE subject_id = 'CP-X'")
    assert clock == [(t0 + timedelta(days=60), t0 + timedelta(days=12), None)]
    dq = _rows(dsn, "SELECT subject_id, kind FROM rm_data_quality ORDER BY 1")
    assert dq == [("CP-L", "late_extension"), ("CP-X", "extension_limit")]
