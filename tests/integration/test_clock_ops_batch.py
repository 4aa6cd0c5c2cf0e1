"""The set-based SLA clock ops of ``flush`` equal ``sla_clock_op()`` applied one by one.

``workers.handlers.effects.apply_clock_ops`` applies a batch's clock ops with a few
``unnest`` statements per round (a performance change, issue 6). Random op sequences —
every op type, repeated ops on the same clock, pauses and resumes in any order — are
applied both ways in two fresh schemas and the resulting ``sla_clocks`` rows compared.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.conftest import dsn_with_schema
from workers.handlers.effects import ClockOp, apply_clock_ops, clock_op_rounds

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _ops(rng: random.Random, n: int) -> list[ClockOp]:
    subjects = [f"C-{k}" for k in range(max(1, n // 4))]
    out = []
    for _ in range(n):
        kind = rng.choice(["start", "start", "pause", "resume", "stop"])
        window = timedelta(hours=rng.choice([0.5, 4, 24, 72]))
        out.append(ClockOp(
            kind, rng.choice(["case", "dispatch"]), rng.choice(subjects),
            rng.choice(["survey", "initial_review"]),
            T0 + timedelta(minutes=rng.randrange(0, 6000)),
            window if kind == "start" else timedelta(0),
            window * 0.8 if kind == "start" else timedelta(0),
            rng.choice(["PICC", None]), rng.choice(["auto", None]), "广东省"))
    return out


@pytest.fixture
def two_schemas(base_dsn: str) -> Iterator[tuple[str, str]]:
    from infra.db import migrate

    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        for s in names:
            conn.execute(f'CREATE SCHEMA "{s}"')
    urls = [dsn_with_schema(base_dsn, s) for s in names]
    for u in urls:
        migrate(u)
    try:
        yield urls[0], urls[1]
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            for s in names:
                conn.execute(f'DROP SCHEMA "{s}" CASCADE')


def _one_by_one(dsn: str, batches: list[list[ClockOp]]) -> None:
    with psycopg.connect(dsn) as conn:
        for batch in batches:
            with conn.cursor() as cur:
                cur.executemany(
                    "SELECT sla_clock_op(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(o.op, o.subject_type, o.subject_id, o.clock, o.at,
                      o.window.total_seconds(), o.warn.total_seconds(), o.insurer, o.line,
                      o.province) for o in batch])
            conn.commit()


async def _set_based(dsn: str, batches: list[list[ClockOp]]) -> None:
    conn = await psycopg.AsyncConnection.connect(dsn)
    try:
        for batch in batches:
            await apply_clock_ops(conn, batch)
            await conn.commit()
    finally:
        await conn.close()


def _rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute("SELECT * FROM sla_clocks ORDER BY 1, 2, 3").fetchall())


def test_rounds_keep_each_clocks_order() -> None:
    ops = _ops(random.Random(3), 200)
    rounds = clock_op_rounds(ops)
    assert sorted(map(id, ops)) == sorted(id(o) for r in rounds for o in r)
    for r in rounds:
        keys = [(o.subject_type, o.subject_id, o.clock) for o in r]
        assert len(keys) == len(set(keys))
    where = {id(o): k for k, r in enumerate(rounds) for o in r}
    last: dict[tuple[str, str, str], int] = {}
    for o in ops:
        key = (o.subject_type, o.subject_id, o.clock)
        assert where[id(o)] == last.get(key, -1) + 1
        last[key] = where[id(o)]
    with pytest.raises(ValueError):
        clock_op_rounds([ClockOp("explode", "case", "C", "survey", T0)])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_set_based_clock_ops_equal_the_sql_function(
    two_schemas: tuple[str, str], seed: int
) -> None:
    rng = random.Random(seed)
    batches = [_ops(rng, rng.choice([1, 5, 40, 300])) for _ in range(8)]
    reference, candidate = two_schemas
    _one_by_one(reference, batches)
    asyncio.run(_set_based(candidate, batches))
    expected = _rows(reference)
    with psycopg.connect(reference) as conn:
        stopped, paused, resumed = conn.execute(
            "SELECT count(stopped_at), count(paused_since), count(*) FILTER (WHERE paused_s > 0)"
            " FROM sla_clocks").fetchone() or (0, 0, 0)
    assert expected and stopped and paused and resumed  # every op type took effect
    assert _rows(candidate) == expected
