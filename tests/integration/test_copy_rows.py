"""Rows written by binary COPY (``__copy__`` kinds, :func:`workers.store.rows.copy_rows`)
are exactly the rows the ``unnest`` insert writes: the same rows are written both ways
into two schemas and the tables compared column by column (NULLs, non-ASCII text,
timestamps of several offsets and microseconds included), and every ``__copy__`` kind's
column types are the table's own (binary COPY sends them untranslated).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import fresh_schema
from workers.handlers.dispatches import DispatchInsert
from workers.store import rows as rows_mod
from workers.store.rows import Row, columns_of, copy_rows, insert_rows
from workers.store.tables import TimelineRow

pytestmark = pytest.mark.integration
_T0 = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
_TEXTS = ["a", "理赔-广州-天河", "O'Brien \"x\" \\ \t tab", "", "é" * 40]


def _at(rnd: random.Random) -> datetime:
    tz = timezone(timedelta(hours=rnd.choice([0, 8, -5])))
    return (_T0 + timedelta(seconds=rnd.randint(-10**7, 10**7),
                            microseconds=rnd.randint(0, 999999))).astimezone(tz)


def _opt(rnd: random.Random, value: Any) -> Any:
    return None if rnd.random() < 0.3 else value


def _timeline(rnd: random.Random, n: int) -> TimelineRow:
    return TimelineRow(_opt(rnd, f"C-{n}"), _opt(rnd, f"K-{rnd.choice(_TEXTS)}"),
                       rnd.choice(["case.reported", "review.completed"]), _at(rnd),
                       rnd.choice(_TEXTS) + "src", f"ev-{n}", rnd.choice(["applied", "parked"]),
                       _opt(rnd, rnd.choice(_TEXTS)))


def _dispatch(rnd: random.Random, n: int) -> DispatchInsert:
    return DispatchInsert(
        f"D-{n}", f"C-{n}", rnd.choice(_TEXTS), "auto", "广东", rnd.choice(_TEXTS),
        _opt(rnd, "天河"), "normal", _opt(rnd, "ADJ-1"), _at(rnd), _at(rnd), "src", f"ev-{n}",
        uuid.UUID(int=rnd.getrandbits(128)).hex, rnd.choice(["queued", "assigned"]),
        _opt(rnd, "ADJ-2"), _at(rnd), rnd.choice(_TEXTS))


_KINDS: dict[type[Row], tuple[Callable[[random.Random, int], Row], str]] = {
    TimelineRow: (_timeline, "id"),
    DispatchInsert: (_dispatch, "dispatch_id"),
}


@pytest.fixture
def second_dsn(base_dsn: str) -> Iterator[str]:
    yield from fresh_schema(base_dsn)


async def _write(dsn: str, batches: list[list[Row]], use_copy: bool) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for batch in batches:
            if use_copy:
                await copy_rows(conn, batch)
            else:
                await conn.execute(rows_mod.insert_sql(type(batch[0])), rows_mod.params(batch))
        await conn.commit()
        cls = type(batches[0][0])
        order = _KINDS[cls][1]
        cur = await conn.execute(
            f"SELECT {order}, {', '.join(c.name for c in columns_of(cls))}"  # noqa: S608
            f" FROM {cls.__table__} ORDER BY {order}")
        return await cur.fetchall()


@pytest.mark.parametrize("cls", list(_KINDS), ids=lambda c: c.__name__)
def test_copy_writes_what_the_unnest_insert_writes(dsn: str, second_dsn: str,
                                                   cls: type[Row]) -> None:
    rnd = random.Random(15)
    make = _KINDS[cls][0]
    batches = [[make(rnd, b * 1000 + i) for i in range(size)] for b, size in
               enumerate([1, 37, 500])]
    by_copy = asyncio.run(_write(dsn, batches, use_copy=True))
    by_unnest = asyncio.run(_write(second_dsn, batches, use_copy=False))
    assert len(by_copy) == 538
    assert by_copy == by_unnest


def test_insert_rows_takes_copy_from_the_threshold(dsn: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[int] = []

    async def spy(conn: Any, rows: Any) -> None:
        used.append(len(rows))
        await copy_rows(conn, rows)

    monkeypatch.setattr(rows_mod, "copy_rows", spy)
    rnd = random.Random(1)

    async def run() -> Any:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for n in (rows_mod.COPY_MIN_ROWS - 1, rows_mod.COPY_MIN_ROWS):
                await insert_rows(conn, [_timeline(rnd, i) for i in range(n)])
            return await (await conn.execute("SELECT count(*) FROM case_timeline")).fetchone()

    assert asyncio.run(run()) == (2 * rows_mod.COPY_MIN_ROWS - 1,)
    assert used == [rows_mod.COPY_MIN_ROWS]


def _copy_kinds() -> list[type[Row]]:
    out, todo = [], list(Row.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__copy__ and cls.__module__.startswith("workers."):  # not tests' own kinds
            out.append(cls)
    return out


def test_every_copy_kind_sends_the_tables_own_column_types(dsn: str) -> None:
    kinds = _copy_kinds()
    assert set(_KINDS) <= set(kinds)
    with psycopg.connect(dsn) as conn:
        for cls in kinds:
            table = dict(conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (cls.__table__,)).fetchall())
            mine = {c.name: c.pg_type for c in columns_of(cls)}
            alias = {"timestamp with time zone": "timestamptz", "integer": "int4",
                     "bigint": "int8", "boolean": "bool", "double precision": "float8"}
            assert {k: alias.get(table[k], table[k]) for k in mine} == mine, cls.__name__
