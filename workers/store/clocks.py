"""SLA clock SQL: the set-based ops of a batch and the sweeper, equal to ``rules/sla.py``.

Why one module: the clock arithmetic used to exist in four copies that disagreed (SPEC
§4.4 v2 "exact"). Every statement that changes a clock row lives here and
``tests/integration/test_clock_rules_equal_sql.py`` checks it against
:func:`workers.rules.sla.apply_op` / :func:`workers.rules.sla.sweep` on random sequences.

Settling marks at a limit L (pause: its instant; stop/extend: its instant or the open
pause's start, whichever is earlier) is the same expression everywhere: a recorded mark
strictly before L stays (it may predate a pause, so it can be earlier than today's
``warn_at``); otherwise the current instant if strictly before L; otherwise none — a
stop exactly at ``due_at`` is on time. ``breach_seen_at`` follows its breach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from workers.rules.sla import ClockOp, ClockOpKind

_KEY = "c.subject_type = u.st AND c.subject_id = u.sid AND c.clock = u.clk"
_KEYS = "%b::text[], %b::text[], %b::text[], %b::timestamptz[]"
# the open pause's gap at u.at (0 when running) and the limit marks settle at
_GAP = ("CASE WHEN c.paused_since IS NULL THEN 0"
        " ELSE greatest(0, extract(epoch FROM u.at - c.paused_since)) END")
# extend without a warn offset (0): the same share of the new window, floored to the
# microsecond in exact integer arithmetic as rules.sla does
_WARN = ("CASE WHEN u.warn > 0 THEN u.warn ELSE floor(round(c.warn_s * 1e6)::numeric"
         " * round(u.win * 1e6)::numeric / round(c.window_s * 1e6)::numeric)::float8 / 1e6 END")
_LIMIT = "CASE WHEN c.paused_since IS NULL THEN u.at ELSE least(u.at, c.paused_since) END"


def _settle(limit: str) -> str:
    """SET items settling warned_at, breached_at, breach_seen_at at ``limit`` (old values)."""
    return (f" warned_at = CASE WHEN c.warned_at < {limit} THEN c.warned_at"
            f" WHEN c.warn_at < {limit} THEN c.warn_at END,"
            f" breached_at = CASE WHEN c.breached_at < {limit} THEN c.breached_at"
            f" WHEN c.due_at < {limit} THEN c.due_at END,"
            f" breach_seen_at = CASE WHEN c.breached_at < {limit} THEN c.breach_seen_at END")


# "stopped_at IS NULL" in a form that implies no partial index predicate: written plainly
# it matches sla_clocks_running (clock) WHERE stopped_at IS NULL, and on a table not yet
# analyzed the planner probes that index once per op (every running clock of that name,
# ~0.4 ms per op at 20k clocks: two thirds of Postgres's CPU in a 20k-event replay,
# bench/experiments/pg_batch_cost.py) instead of the primary key.
_RUNNING = "num_nulls(c.stopped_at) = 1"

# One statement per op kind, parameters read from unnest() (binary arrays).
# Pause tests "num_nulls(stopped_at, paused_since) = 2", i.e. "stopped_at IS NULL AND
# paused_since IS NULL" in a form that does not match the predicate of the partial index
# sla_clocks_due: on a table autovacuum has not analyzed yet the planner otherwise scans
# that index (every running clock, tens of ms) instead of the primary key.
_SQL: dict[ClockOpKind, str] = {
    ClockOpKind.START: (
        "INSERT INTO sla_clocks (subject_type, subject_id, clock, insurer, line, province,"
        " started_at, window_s, warn_s, due_at, warn_at)"
        " SELECT st, sid, clk, ins, ln, prov, at, win, warn, at + make_interval(secs => win),"
        f" at + make_interval(secs => warn) FROM unnest({_KEYS}, %b::float8[], %b::float8[],"
        " %b::text[], %b::text[], %b::text[])"
        " AS u(st, sid, clk, at, win, warn, ins, ln, prov) ON CONFLICT DO NOTHING"),
    ClockOpKind.PAUSE: (
        f"UPDATE sla_clocks c SET paused_since = u.at, {_settle('u.at')}"
        f" FROM unnest({_KEYS}) AS u(st, sid, clk, at) WHERE {_KEY}"
        " AND num_nulls(c.stopped_at, c.paused_since) = 2"),
    ClockOpKind.RESUME: (
        "UPDATE sla_clocks c SET"
        f" paused_s = c.paused_s + {_GAP}, paused_since = NULL,"
        f" due_at = c.started_at + make_interval(secs => c.window_s + c.paused_s + {_GAP}),"
        f" warn_at = c.started_at + make_interval(secs => c.warn_s + c.paused_s + {_GAP})"
        f" FROM unnest({_KEYS}) AS u(st, sid, clk, at) WHERE {_KEY}"
        f" AND {_RUNNING} AND c.paused_since IS NOT NULL"),
    ClockOpKind.STOP: (
        "UPDATE sla_clocks c SET"
        f" paused_s = c.paused_s + {_GAP}, paused_since = NULL,"
        f" due_at = c.started_at + make_interval(secs => c.window_s + c.paused_s + {_GAP}),"
        f" warn_at = c.started_at + make_interval(secs => c.warn_s + c.paused_s + {_GAP}),"
        f" stopped_at = greatest(u.at, c.started_at), {_settle(_LIMIT)}"
        f" FROM unnest({_KEYS}) AS u(st, sid, clk, at) WHERE {_KEY} AND {_RUNNING}"),
    # only the "move back" half: the stop of a running clock is the STOP statement above
    ClockOpKind.STOP_EARLIEST: (
        f"UPDATE sla_clocks c SET stopped_at = greatest(u.at, c.started_at), {_settle('u.at')}"
        f" FROM unnest({_KEYS}) AS u(st, sid, clk, at) WHERE {_KEY}"
        " AND c.stopped_at > greatest(u.at, c.started_at) AND c.paused_s = 0"),
    ClockOpKind.EXTEND: (
        f"UPDATE sla_clocks c SET window_s = u.win, warn_s = {_WARN},"
        " due_at = c.started_at + make_interval(secs => u.win + c.paused_s),"
        f" warn_at = c.started_at + make_interval(secs => {_WARN} + c.paused_s), {_settle(_LIMIT)}"
        f" FROM unnest({_KEYS}, %b::float8[], %b::float8[]) AS u(st, sid, clk, at, win, warn)"
        f" WHERE {_KEY} AND {_RUNNING}"),
}
_ORDER = (ClockOpKind.START, ClockOpKind.PAUSE, ClockOpKind.RESUME, ClockOpKind.STOP,
          ClockOpKind.STOP_EARLIEST, ClockOpKind.EXTEND)


def clock_op_rounds(ops: Sequence[ClockOp]) -> list[list[ClockOp]]:
    """Split ops into rounds: round k holds the k-th op of every clock, in batch order.

    An op only reads and writes its own clock's row, so ops of different clocks commute:
    applying round after round (each op kind of a round as one statement) gives exactly
    the result of applying the ops one by one in batch order.
    """
    rounds: list[list[ClockOp]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for op in ops:
        k = seen.get(op.key, 0)
        seen[op.key] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(op)
    return rounds


def _params(kind: ClockOpKind, ops: Sequence[ClockOp]) -> list[list[Any]]:
    cols: list[list[Any]] = [[o.subject_type for o in ops], [o.subject_id for o in ops],
                             [o.clock for o in ops], [o.at for o in ops]]
    if kind in (ClockOpKind.START, ClockOpKind.EXTEND):
        cols += [[o.window.total_seconds() for o in ops], [o.warn.total_seconds() for o in ops]]
    if kind is ClockOpKind.START:
        cols += [[o.insurer for o in ops], [o.line for o in ops], [o.province for o in ops]]
    return cols


async def apply_clock_ops(conn: AsyncConnection[Any], ops: Sequence[ClockOp]) -> None:
    """Apply SLA clock ops in batch order with a few set-based statements (see rounds)."""
    for ops_of_round in clock_op_rounds(ops):
        for kind in _ORDER:
            mine = [o for o in ops_of_round if o.op is kind]
            if not mine:
                continue
            if kind is ClockOpKind.STOP_EARLIEST:  # a running clock stops as with STOP
                await conn.execute(_SQL[ClockOpKind.STOP], _params(kind, mine))
            await conn.execute(_SQL[kind], _params(kind, mine))


# The sweeper: marks strictly passed at ``now`` on running clocks (rules.sla.sweep).
# Safe with any number of sweepers: rows are claimed with FOR UPDATE SKIP LOCKED and each
# mark is set only where it is still empty, so every warning and breach is recorded (and
# counted in metrics) exactly once. ``warn_at < now`` first: warn_at <= due_at, and it is
# the column of the partial index sla_clocks_due.
_SWEEP = """
WITH due AS (
    SELECT subject_type, subject_id, clock,
           warned_at IS NULL AND warn_at < %(now)s AS warn,
           breached_at IS NULL AND due_at < %(now)s AS breach
    FROM sla_clocks
    WHERE stopped_at IS NULL AND paused_since IS NULL AND warn_at < %(now)s
      AND ((warned_at IS NULL AND warn_at < %(now)s) OR (breached_at IS NULL AND due_at < %(now)s))
    ORDER BY warn_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE sla_clocks c SET
    warned_at = CASE WHEN due.warn THEN c.warn_at ELSE c.warned_at END,
    breached_at = CASE WHEN due.breach THEN c.due_at ELSE c.breached_at END,
    breach_seen_at = CASE WHEN due.breach THEN %(now)s ELSE c.breach_seen_at END
FROM due
WHERE c.subject_type = due.subject_type AND c.subject_id = due.subject_id AND c.clock = due.clock
RETURNING c.clock, due.warn, due.breach
"""


@dataclass
class SweepResult:
    """Marks set by one sweep, per clock."""

    warned: Counter[str] = field(default_factory=Counter)
    breached: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Rows changed."""
        return sum(self.warned.values()) + sum(self.breached.values())


async def sweep_clocks(conn: AsyncConnection[Any], now: datetime, limit: int = 2000) -> SweepResult:
    """Mark due warnings/breaches in the caller's transaction (commit to release locks)."""
    cur = await conn.execute(_SWEEP, {"now": now, "limit": limit})
    result = SweepResult()
    for clock, warn, breach in await cur.fetchall():
        if warn:
            result.warned[clock] += 1
        if breach:
            result.breached[clock] += 1
    return result
