"""ops_open_escalations (0053) lists exactly the escalations rm_escalations shows as open
(resolved_at null; dissatisfied/report never open), found from the running clocks so the ops
page and its sampler stay fast; checked on every clock state × level × cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import psycopg
import pytest

pytestmark = pytest.mark.integration
T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_open_escalations_equal_the_open_rows_of_rm_escalations(dsn: str) -> None:
    states = {  # clock state → (warned_at, breached_at, stopped_at)
        "running": (None, None, None), "warned": (T, None, None), "breached": (T, T + H, None),
        "stopped_warned": (T, None, T + 2 * H), "stopped_breached": (T, T + H, T + 2 * H),
    }
    with psycopg.connect(dsn) as conn:
        n = 0
        for (state, (warned, breached, stopped)), level in product(states.items(),
                                                                   ("owner", "supervisor")):
            n += 1
            conn.execute(
                "INSERT INTO sla_clocks (subject_type, subject_id, clock, started_at, window_s,"
                " warn_s, due_at, warn_at, warned_at, breached_at, stopped_at) VALUES"
                " ('case', %s, 'determination', %s, 3600, 2880, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (f"C-{state}", T - H, T + H, T, warned, breached, stopped))
            conn.execute(
                "INSERT INTO escalations (escalation_id, subject_type, subject_id, case_id, cause,"
                " level, to_id, raised_at, summary) VALUES (%s, 'case', %s, %s, 'determination',"
                " %s, 'to', %s, 's')", (f"E{n}", f"C-{state}", f"C-{state}", level, T))
        for cause, resolved in product(("payment_failed", "dissatisfied", "report"), (None, T)):
            n += 1
            conn.execute(
                "INSERT INTO escalations (escalation_id, subject_type, subject_id, cause, level,"
                " to_id, raised_at, resolved_at, summary) VALUES (%s, 'settlement', %s, %s,"
                " 'supervisor', 'sup', %s, %s, 's')", (f"E{n}", f"S{n}", cause, T, resolved))
        want = {r[0] for r in conn.execute(
            "SELECT escalation_id FROM rm_escalations WHERE resolved_at IS NULL"
            " AND cause NOT IN ('dissatisfied', 'report')")}
        got = [r[0] for r in conn.execute("SELECT escalation_id FROM ops_open_escalations")]
    assert len(got) == len(set(got)) and set(got) == want
    assert len(want) == 4  # owner on warned and breached, supervisor on breached, payment_failed


@pytest.mark.parametrize("sql", [
    "SELECT to_id, level, count(*) FROM ops_open_escalations GROUP BY 1, 2",
    "SELECT count(*), min(pay_by) FROM rm_payouts WHERE status <> 'paid'",
    "SELECT count(*), min(due_by) FROM rm_callbacks WHERE status = 'requested'",
])
def test_v2_panel_reads_are_index_driven(dsn: str, sql: str) -> None:
    """Sequential scans priced out: a table read without a usable index shows as Seq Scan."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(("EXPLAIN " + sql).encode()))
    assert "Seq Scan" not in plan, plan
