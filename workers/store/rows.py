"""Typed rows: each row kind the handlers write is a dataclass that owns its table and
column list; the set-based statements are derived from it here, in one place.

Why: rows used to be positional tuples matched by hand against column lists and
``unnest(%b::text[], …)`` casts in other files (add a column, shift every index). Now::

    @dataclass(frozen=True)
    class PayoutRow(Row):
        __table__: ClassVar[str] = "payouts"
        payout_id: str
        amount: Decimal
        approved_at: datetime
        cat_code: str | None

    await insert_rows(conn, [PayoutRow(...), ...])    # one INSERT … SELECT FROM unnest(…)
    cur = conn.cursor(row_factory=class_row(PayoutRow))
    await cur.execute(f"SELECT {select_list(PayoutRow)} FROM payouts WHERE …")

Each field is a column; its Postgres type comes from the annotation (``str`` → text,
``datetime`` → timestamptz, ``Decimal`` → numeric, ``bool``, ``int``, ``float``,
``date``), or from ``col("jsonb")`` metadata (``col("text[]<-json")``: a text array
sent as JSON text, since ``unnest`` would flatten an array of arrays). Parameters are
binary arrays (``%b``), one per column: one statement per row kind and batch, whatever the
batch size (psycopg dumps arrays in binary 5-15x faster than as text; ``executemany``
costs a round trip per row). Append-only kinds whose column types are the table's own may
set ``__copy__``: from :data:`COPY_MIN_ROWS` rows on they are written by binary ``COPY``
(psycopg formats rows in C; the ``unnest`` arrays cost a Python loop per value), the same
rows (``tests/integration/test_copy_rows.py`` writes them both ways and compares).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from psycopg import AsyncConnection

_PG = {str: "text", datetime: "timestamptz", date: "date", Decimal: "numeric", bool: "bool",
       int: "int8", float: "float8"}
_CAST_IN_SELECT = {"jsonb", "json"}  # sent as text, cast where selected
#: a text[] column sent as JSON text (unnest flattens arrays of arrays)
_JSON_ARRAY = "text[]<-json"
R = TypeVar("R", bound="Row")


def col(pg_type: str, **kwargs: Any) -> Any:
    """A field with an explicit Postgres type (e.g. ``col("jsonb")``, ``col("int4")``)."""
    return dataclasses.field(metadata={"pg": pg_type}, **kwargs)


@dataclass(frozen=True)
class Row:
    """Base of typed rows. Subclasses set ``__table__`` and may set ``__conflict__``
    (the ``ON CONFLICT`` clause of their insert, default ``DO NOTHING``)."""

    __table__: ClassVar[str]
    __conflict__: ClassVar[str] = "ON CONFLICT DO NOTHING"
    #: insert by binary ``COPY`` (see :func:`copy_rows`): only for append-only kinds (no
    #: conflict clause) whose columns' Postgres types are exactly the table's
    __copy__: ClassVar[bool] = False


@dataclass(frozen=True)
class Column:
    """One column of a row kind: name and Postgres type."""

    name: str
    pg_type: str

    @property
    def array_param(self) -> str:
        """The ``unnest`` parameter: ``%b::text[]`` (json is sent as text)."""
        as_text = self.pg_type in _CAST_IN_SELECT or self.pg_type == _JSON_ARRAY
        return f"%b::{'text' if as_text else self.pg_type}[]"

    def selected(self, alias: str) -> str:
        """The column read from the ``unnest`` alias, cast where needed."""
        if self.pg_type == _JSON_ARRAY:
            return (f"CASE WHEN {alias}.{self.name} IS NOT NULL THEN ARRAY(SELECT"
                    f" jsonb_array_elements_text({alias}.{self.name}::jsonb)) END")
        return f"{alias}.{self.name}" + (f"::{self.pg_type}" if self.pg_type in _CAST_IN_SELECT
                                          else "")


_COLUMNS: dict[type[Row], tuple[Column, ...]] = {}
_INSERTS: dict[type[Row], str] = {}
_COPIES: dict[type[Row], tuple[str, list[str], Callable[[Any], tuple[Any, ...]]]] = {}
#: below this many rows the ``unnest`` statement is cheaper: COPY takes two round trips
COPY_MIN_ROWS = 32
#: integer columns never go through binary COPY: psycopg's fixed-width dumper wraps a value
#: out of range (2**40 as int4 is stored as 0) where the ``unnest`` array, dumped at the
#: width the values need, makes Postgres refuse it (22003, a data error)
_NO_COPY = {"int2", "int4", "int8"}


def columns_of(cls: type[Row]) -> tuple[Column, ...]:
    """The columns of ``cls``, in field order (computed once per class)."""
    cached = _COLUMNS.get(cls)
    if cached is None:
        cached = _COLUMNS[cls] = _columns(cls)
    return cached


def _columns(cls: type[Row]) -> tuple[Column, ...]:
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        pg = f.metadata.get("pg") or _PG.get(_unwrap(hints[f.name]))
        if pg is None:
            raise TypeError(f"{cls.__name__}.{f.name}: no Postgres type for {hints[f.name]!r};"
                            " use col('<type>')")
        out.append(Column(f.name, pg))
    return tuple(out)


def select_list(cls: type[Row], alias: str | None = None) -> str:
    """``a, b, c`` (or ``t.a, t.b, …``): the select list matching ``class_row(cls)``."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + c.name for c in columns_of(cls))


def unnest(cls: type[Row], names: Sequence[str] | None = None, alias: str = "u") -> str:
    """``unnest(%b::text[], …) AS u(a, b, …)`` for ``names`` (default: every column)."""
    cols = _pick(cls, names)
    return (f"unnest({', '.join(c.array_param for c in cols)})"
            f" AS {alias}({', '.join(c.name for c in cols)})")


def insert_sql(cls: type[Row]) -> str:
    """``INSERT INTO table (cols) SELECT … FROM unnest(…) <conflict>``."""
    cached = _INSERTS.get(cls)
    if cached is None:
        cached = _INSERTS[cls] = _insert_sql(cls)
    return cached


def _insert_sql(cls: type[Row]) -> str:
    cols = columns_of(cls)
    return (f"INSERT INTO {cls.__table__} ({', '.join(c.name for c in cols)})"
            f" SELECT {', '.join(c.selected('u') for c in cols)} FROM {unnest(cls)}"
            f" {cls.__conflict__}")


def update_sql(cls: type[Row], key: Sequence[str], names: Sequence[str] | None = None) -> str:
    """``UPDATE table t SET c = u.c, … FROM unnest(…) WHERE t.k = u.k`` (default: every
    non-key column)."""
    cols = _pick(cls, names) if names else tuple(c for c in columns_of(cls) if c.name not in key)
    sets = ", ".join(f"{c.name} = {c.selected('u')}" for c in cols)
    where = " AND ".join(f"t.{k} = u.{k}" for k in key)
    return (f"UPDATE {cls.__table__} t SET {sets}"
            f" FROM {unnest(cls, [*(c.name for c in cols), *key])} WHERE {where}")


def params(rows: Sequence[Row], names: Sequence[str] | None = None) -> list[list[Any]]:
    """One list per column (the parameters of an ``unnest`` statement)."""
    if not rows:
        return []
    cols = _pick(type(rows[0]), names)
    return [[getattr(r, c.name) for r in rows] for c in cols]


async def insert_rows(conn: AsyncConnection[Any], rows: Sequence[Row]) -> None:
    """Insert ``rows`` (one kind) with one statement; nothing when empty."""
    if not rows:
        return
    cls = type(rows[0])
    if cls.__copy__ and len(rows) >= COPY_MIN_ROWS:
        await copy_rows(conn, rows)
    else:
        await conn.execute(insert_sql(cls), params(rows))


def copy_sql(cls: type[Row]) -> tuple[str, list[str], Callable[[Any], tuple[Any, ...]]]:
    """``COPY table (cols) FROM STDIN (FORMAT BINARY)``, the column types, a row getter."""
    cached = _COPIES.get(cls)
    if cached is None:
        cols = columns_of(cls)
        odd = [c.name for c in cols if c.pg_type in _CAST_IN_SELECT or c.pg_type == _JSON_ARRAY
               or c.pg_type in _NO_COPY]
        if cls.__conflict__ or odd:
            raise TypeError(f"{cls.__name__}: COPY needs no conflict clause and plain columns"
                            f" (not {odd})")
        names = [c.name for c in cols]
        get = attrgetter(*names)
        getter = get if len(names) > 1 else (lambda r: (get(r),))
        cached = _COPIES[cls] = (f"COPY {cls.__table__} ({', '.join(names)}) FROM STDIN"
                                 " (FORMAT BINARY)", [c.pg_type for c in cols], getter)
    return cached


async def copy_rows(conn: AsyncConnection[Any], rows: Sequence[Row]) -> None:
    """Insert ``rows`` (one ``__copy__`` kind) by binary COPY: psycopg formats each row in
    C, where the ``unnest`` parameters cost a Python loop per value (3-4x the client CPU
    for a 2,000-row timeline, ~20 % less Postgres CPU). Same rows, same order, same errors
    (a unique violation is SQLSTATE 23505 either way)."""
    sql, types, getter = copy_sql(type(rows[0]))
    async with conn.cursor().copy(sql) as cp:
        cp.set_types(types)
        for r in rows:
            await cp.write_row(getter(r))


async def update_rows(conn: AsyncConnection[Any], rows: Sequence[Row], key: Sequence[str],
                      names: Sequence[str] | None = None) -> None:
    """Update ``rows`` (one kind) by ``key`` with one statement; nothing when empty."""
    if rows:
        cls = type(rows[0])
        cols = list(names) if names else [c.name for c in columns_of(cls) if c.name not in key]
        await conn.execute(update_sql(cls, key, cols), params(rows, [*cols, *key]))


def _pick(cls: type[Row], names: Sequence[str] | None) -> tuple[Column, ...]:
    cols = columns_of(cls)
    if names is None:
        return cols
    by_name = {c.name: c for c in cols}
    return tuple(by_name[n] for n in names)


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp
