"""Typed rows derive their statements from their fields (workers/store/rows.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import pytest

from workers.store.rows import (
    Row,
    col,
    columns_of,
    copy_sql,
    insert_sql,
    params,
    select_list,
    update_sql,
)


@dataclass(frozen=True)
class Thing(Row):
    __table__: ClassVar[str] = "things"
    __conflict__: ClassVar[str] = "ON CONFLICT (thing_id) DO UPDATE SET n = EXCLUDED.n"
    thing_id: str
    at: datetime
    amount: Decimal | None
    n: int = col("int4")
    payload: str = col("jsonb", default="{}")


def test_columns_come_from_the_fields() -> None:
    assert [(c.name, c.pg_type) for c in columns_of(Thing)] == [
        ("thing_id", "text"), ("at", "timestamptz"), ("amount", "numeric"), ("n", "int4"),
        ("payload", "jsonb")]
    assert select_list(Thing, "t") == "t.thing_id, t.at, t.amount, t.n, t.payload"


def test_insert_is_one_unnest_statement_with_casts() -> None:
    assert insert_sql(Thing) == (
        "INSERT INTO things (thing_id, at, amount, n, payload) SELECT u.thing_id, u.at, u.amount,"
        " u.n, u.payload::jsonb FROM unnest(%b::text[], %b::timestamptz[], %b::numeric[],"
        " %b::int4[], %b::text[]) AS u(thing_id, at, amount, n, payload)"
        " ON CONFLICT (thing_id) DO UPDATE SET n = EXCLUDED.n")


def test_update_by_key() -> None:
    assert update_sql(Thing, ["thing_id"], ["n", "payload"]) == (
        "UPDATE things t SET n = u.n, payload = u.payload::jsonb FROM unnest(%b::int4[],"
        " %b::text[], %b::text[]) AS u(n, payload, thing_id) WHERE t.thing_id = u.thing_id")


def test_params_are_one_list_per_column() -> None:
    t0 = datetime(2026, 1, 1)
    rows = [Thing("a", t0, None, 1), Thing("b", t0, Decimal("2.00"), 2, '{"x": 1}')]
    assert params(rows) == [["a", "b"], [t0, t0], [None, Decimal("2.00")], [1, 2],
                            ["{}", '{"x": 1}']]
    assert params(rows, ["n", "thing_id"]) == [[1, 2], ["a", "b"]]
    assert params([]) == []


def test_a_field_without_a_postgres_type_is_refused() -> None:
    @dataclass(frozen=True)
    class Bad(Row):
        __table__: ClassVar[str] = "bad"
        tags: list[str]

    with pytest.raises(TypeError, match="col"):
        columns_of(Bad)


@dataclass(frozen=True)
class Appended(Row):
    __table__: ClassVar[str] = "appended"
    __conflict__: ClassVar[str] = ""
    __copy__: ClassVar[bool] = True
    name: str
    at: datetime | None


def test_copy_is_derived_for_append_only_plain_kinds() -> None:
    sql, types, getter = copy_sql(Appended)
    assert sql == "COPY appended (name, at) FROM STDIN (FORMAT BINARY)"
    assert types == ["text", "timestamptz"]
    assert getter(Appended("a", None)) == ("a", None)


def test_copy_is_refused_with_a_conflict_clause_json_or_integers() -> None:
    @dataclass(frozen=True)
    class Counted(Row):  # binary COPY would wrap an out-of-range int silently
        __table__: ClassVar[str] = "counted"
        __conflict__: ClassVar[str] = ""
        n: int = col("int4")

    for cls in (Thing, Counted):
        with pytest.raises(TypeError, match="COPY needs"):
            copy_sql(cls)
