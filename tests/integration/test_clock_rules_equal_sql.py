"""The SQL that runs the SLA clocks equals the rules (SPEC §4.4: the rules are the reference).

Random operation sequences — start, pause, resume, stop, stop_earliest, extend (with and
without a warn offset) and sweeps at random instants, with instants drawn near the clock's
own marks (exactly at the 80 % and 100 % instants, one microsecond either side, at a
pause, after a mark) — are applied both through :func:`workers.rules.sla.apply_op` /
:func:`sweep` and through the set-based statements that flush and the sweeper run
(``workers/store/clocks.py``), in batches (so several ops of one clock fall into
successive rounds). The rows are compared after every step. One migrated schema is
reused; each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from tests.integration.module_db import Db, module_db
from workers.rules.sla import ClockOp, ClockOpKind, ClockTimes, apply_op, sweep, warn_offset
from workers.store.clocks import apply_clock_ops, clock_op_rounds, sweep_clocks

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
H = timedelta(hours=1)
SUBJECTS = ("S-0", "S-1")
CLOCK = "determination"
Key = tuple[str, str, str]


@pytest.fixture(scope="module")
def db(base_dsn: str) -> Iterator[Db]:
    with module_db(base_dsn, row_factory=dict_row) as d:
        yield d


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _expected(model: dict[Key, ClockTimes]) -> dict[Key, dict[str, Any]]:
    us = US
    return {k: {
        "started_at": t.started_at, "due_at": t.due_at, "warn_at": t.warn_at,
        "warned_at": t.warned_at, "breached_at": t.breached_at, "stopped_at": t.stopped_at,
        "paused_since": t.paused_since, "breach_seen_at": t.breach_seen_at,
        "window": t.window // us, "warn": t.warn // us, "paused": t.paused_total // us,
    } for k, t in model.items()}


async def _actual(conn: psycopg.AsyncConnection[Any]) -> dict[Key, dict[str, Any]]:
    cur = await conn.execute(
        "SELECT subject_type, subject_id, clock, started_at, due_at, warn_at, warned_at,"
        " breached_at, stopped_at, paused_since, breach_seen_at, window_s, warn_s, paused_s"
        " FROM sla_clocks")
    out: dict[Key, dict[str, Any]] = {}
    for r in await cur.fetchall():
        key = (r.pop("subject_type"), r.pop("subject_id"), r.pop("clock"))
        r["window"], r["warn"] = _micros(r.pop("window_s")), _micros(r.pop("warn_s"))
        r["paused"] = _micros(r.pop("paused_s"))
        out[key] = r
    return out


Step = list[ClockOp] | datetime  # a batch of ops, or a sweep at that instant


def _assert_same(sql: dict[Key, dict[str, Any]], rules: dict[Key, dict[str, Any]], n: int,
                 step: Step) -> None:
    diff = [(k, col, sql.get(k, {}).get(col), rules.get(k, {}).get(col))
            for k in sorted(set(sql) | set(rules))
            for col in sorted(set(sql.get(k, {})) | set(rules.get(k, {})))
            if sql.get(k, {}).get(col) != rules.get(k, {}).get(col)]
    assert not diff, f"after step {n} ({_show(step)}): (clock, column, SQL, rules): {diff}"


def _show(step: Step) -> str:
    if isinstance(step, datetime):
        return f"sweep at {step.isoformat()}"
    return ", ".join(f"{o.op} {o.subject_id} at {o.at.isoformat()}"
                     + (f" window {o.window} warn {o.warn}" if o.window else "") for o in step)


def run_both(db: Db, steps: list[Step]) -> dict[Key, ClockTimes]:
    """Apply ``steps`` to the rules and to SQL, comparing the rows after each step."""
    model: dict[Key, ClockTimes] = {}

    async def go() -> None:
        try:
            for n, step in enumerate(steps):
                if isinstance(step, datetime):
                    await sweep_clocks(db.conn, step)
                    model.update({k: sweep(t, step) for k, t in model.items()})
                else:
                    await apply_clock_ops(db.conn, step)
                    for op in step:
                        after = apply_op(model.get(op.key), op)
                        if after is not None:
                            model[op.key] = after
                _assert_same(await _actual(db.conn), _expected(model), n, step)
        finally:
            await db.conn.rollback()

    db.run(go())
    return model


WINDOWS = st.one_of(st.sampled_from([10 * H, timedelta(minutes=30), timedelta(days=30)]),
                    st.integers(1_000_000, 60 * 86_400 * 1_000_000).map(lambda m: m * US))
FRACTIONS = st.sampled_from([Decimal("0.8"), Decimal("0.5"), Decimal("1"), Decimal("0.333")])
KINDS = st.sampled_from([*list(ClockOpKind)[:5], "sweep", "sweep"])


def _instant(data: st.DataObject, clock: ClockTimes | None) -> datetime:
    """Near a mark of ``clock`` (exact, ±1 µs) or anywhere in its life."""
    if clock is None:
        return T0 + data.draw(st.integers(-2 * 3600, 40 * 86_400)) * timedelta(seconds=1)
    near = [clock.warn_at, clock.due_at, clock.started_at, clock.warned_at, clock.breached_at,
            clock.paused_since, clock.stopped_at]
    base = data.draw(st.sampled_from([t for t in near if t is not None]))
    return data.draw(st.one_of(
        st.sampled_from([base, base, base - US, base + US]),
        st.integers(-3 * 86_400, 3 * 86_400).map(lambda s: base + s * timedelta(seconds=1)),
    ))


def _op(data: st.DataObject, kind: ClockOpKind, key: Key, clock: ClockTimes | None) -> ClockOp:
    at = _instant(data, clock)
    window = warn = timedelta(0)
    if kind in (ClockOpKind.START, ClockOpKind.EXTEND):
        window = data.draw(WINDOWS)
        warn = warn_offset(window, data.draw(FRACTIONS))
        if kind is ClockOpKind.EXTEND and data.draw(st.booleans()):
            warn = timedelta(0)  # the same share of the new window
    return ClockOp(kind, key[0], key[1], key[2], at, window, warn, "PICC", "auto", "广东省")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sql_equals_the_rules_on_random_sequences(db: Db, data: st.DataObject) -> None:
    model: dict[Key, ClockTimes] = {}
    steps: list[Step] = []
    for _ in range(data.draw(st.integers(1, 14), label="steps")):
        kind = data.draw(KINDS)
        if kind == "sweep":
            anchor = data.draw(st.sampled_from(list(model.values()) or [None]))
            now = _instant(data, anchor)
            steps.append(now)
            model = {k: sweep(t, now) for k, t in model.items()}
            continue
        batch = []
        for _ in range(data.draw(st.integers(1, 3))):
            key = ("case", data.draw(st.sampled_from(SUBJECTS)), CLOCK)
            op = _op(data, ClockOpKind(kind) if not batch else data.draw(st.sampled_from(
                list(ClockOpKind))), key, model.get(key))
            batch.append(op)
            after = apply_op(model.get(key), op)
            if after is not None:
                model[key] = after
        steps.append(batch)
    run_both(db, steps)


# --- the defects the property test found, pinned as plain examples ---------------------

def _start(at: datetime = T0, window: timedelta = 10 * H, subject: str = "S-0") -> ClockOp:
    return ClockOp(ClockOpKind.START, "case", subject, CLOCK, at, window,
                   warn_offset(window, Decimal("0.8")))


def _do(kind: ClockOpKind, at: datetime, subject: str = "S-0") -> ClockOp:
    return ClockOp(kind, "case", subject, CLOCK, at)


def test_stop_exactly_at_due_is_on_time(db: Db) -> None:
    # was: breached (c.due_at <= u.at)
    model = run_both(db, [[_start()], [_do(ClockOpKind.STOP, T0 + 10 * H)]])
    assert model[("case", "S-0", CLOCK)].marks.breached_at is None
    model = run_both(db, [[_start()], [_do(ClockOpKind.STOP, T0 + 8 * H)]])
    assert model[("case", "S-0", CLOCK)].marks.warned_at is None


def test_warning_reached_before_a_pause_never_moves(db: Db) -> None:
    # warned at 8 h (by the sweeper, or by nobody: the pause settles it), paused 9 h → 14 h;
    # was: the stop rewrote warned_at with the moved warn_at (13 h)
    for sweep_first in (True, False):
        steps: list[Step] = [[_start()]]
        if sweep_first:
            steps.append(T0 + 8 * H + US)
        steps += [[_do(ClockOpKind.PAUSE, T0 + 9 * H)], [_do(ClockOpKind.RESUME, T0 + 14 * H)],
                  [_do(ClockOpKind.STOP, T0 + 14 * H + 30 * timedelta(minutes=1))]]
        clock = run_both(db, steps)[("case", "S-0", CLOCK)]
        assert clock.warned_at == T0 + 8 * H
        assert clock.warn_at == T0 + 13 * H


def test_sweep_exactly_at_due_marks_nothing(db: Db) -> None:
    # was: "due_at <= now" recorded (and counted) a breach the rules do not see yet
    clock = run_both(db, [[_start()], T0 + 10 * H])[("case", "S-0", CLOCK)]
    assert (clock.warned_at, clock.breached_at) == (T0 + 8 * H, None)


def test_breach_seen_ahead_of_a_pause_is_withdrawn(db: Db) -> None:
    clock = run_both(db, [[_start()], T0 + 11 * H, [_do(ClockOpKind.PAUSE, T0 + 9 * H)]])[
        ("case", "S-0", CLOCK)]
    assert (clock.warned_at, clock.breached_at, clock.breach_seen_at) == (T0 + 8 * H, None, None)


def test_stop_earliest_moves_a_later_stop_back(db: Db) -> None:
    clock = run_both(db, [[_start()], T0 + 11 * H, [_do(ClockOpKind.STOP, T0 + 11 * H)],
                          [_do(ClockOpKind.STOP_EARLIEST, T0 + 10 * H)]])[("case", "S-0", CLOCK)]
    assert (clock.stopped_at, clock.breached_at, clock.breach_seen_at) == (T0 + 10 * H, None, None)


def test_extend_keeps_reached_marks_and_moves_the_others(db: Db) -> None:
    window = 20 * H
    extend = ClockOp(ClockOpKind.EXTEND, "case", "S-0", CLOCK, T0 + 9 * H, window,
                     warn_offset(window, Decimal("0.8")))
    clock = run_both(db, [[_start()], [extend], T0 + 30 * H])[("case", "S-0", CLOCK)]
    assert (clock.warned_at, clock.due_at, clock.breached_at) == (T0 + 8 * H, T0 + 20 * H,
                                                                  T0 + 20 * H)


def test_rounds_keep_each_clocks_order() -> None:
    ops = [_do(ClockOpKind.PAUSE, T0 + n * H, SUBJECTS[n % 2]) for n in range(7)]
    rounds = clock_op_rounds(ops)
    assert [len(r) for r in rounds] == [2, 2, 2, 1]
    assert [o for r in rounds for o in r if o.subject_id == "S-0"] == ops[0::2]
    with pytest.raises(ValueError):
        ClockOp("explode", "case", "C", "survey", T0)  # type: ignore[arg-type]
