"""The batch's SLA clock statements find their clocks by primary key, whatever the
statistics: written with a plain ``stopped_at IS NULL`` they matched the partial index
``sla_clocks_running (clock)``, and on a table autovacuum had not analyzed yet the planner
probed it once per op — every running clock of that name, two thirds of Postgres's CPU in
a 20k-event replay (``bench/experiments/pg_batch_cost.py``). Checked on the plans of a
fresh (never analyzed) table with running clocks, as a drain into a new schema sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from workers.rules.sla import ClockOp, ClockOpKind
from workers.store.clocks import _SQL, _params

pytestmark = pytest.mark.integration
_AT = datetime(2026, 11, 21, 8, tzinfo=UTC)
#: partial indexes whose predicates a clock op must not imply (one probe = many rows)
_WIDE = ("sla_clocks_running", "sla_clocks_due")


def _op(kind: ClockOpKind, n: int) -> ClockOp:
    return ClockOp(kind, "case", f"C{n:05d}", "first_contact", _AT, window=timedelta(hours=4),
                   warn=timedelta(hours=3), insurer="PICC", line="auto", province="GD")


@pytest.mark.parametrize("kind", [k for k in ClockOpKind if k is not ClockOpKind.START])
def test_clock_ops_never_probe_a_partial_index_of_all_running_clocks(dsn: str,
                                                                     kind: ClockOpKind) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO sla_clocks (subject_type, subject_id, clock, started_at, window_s,"
            " warn_s, due_at, warn_at, stopped_at) SELECT 'case', 'C' || lpad(n::text, 5, '0'),"
            " 'first_contact', %s, 14400, 10800, %s, %s, CASE WHEN n %% 3 = 0 THEN %s END"
            " FROM generate_series(1, 6000) AS n", (_AT, _AT, _AT, _AT))
        ops = [_op(kind, n) for n in range(1, 2001)]
        plan = "\n".join(r[0] for r in conn.execute(
            ("EXPLAIN " + _SQL[kind]).encode(), _params(kind, ops)))
    assert not [i for i in _WIDE if i in plan], plan
