"""A simulated run of 2,000 cases (duplicates, out-of-order delivery) through a real worker:
the read models agree with an independent tally of what was published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import PARKED_WAITING_SQL, wait_until
from tests.integration.test_lifecycle import load_roster
from topics import TopicNames
from workers.simulate import generate, publish_run, write_roster_csv

pytestmark = pytest.mark.integration


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql).fetchall())


def test_two_thousand_simulated_cases_match_the_published_tally(
    bootstrap: str, names: TopicNames, dsn: str, worker_env: dict[str, str], start_worker: Any,
    tmp_path: Path,
) -> None:
    start = datetime.now(UTC) - timedelta(days=20)  # every surge window long closed
    run = generate(2000, seed=11, start=start, spread=timedelta(days=2), dup_fraction=0.05,
                   shuffle_window=300)
    exp = run.expected
    assert load_roster(worker_env, write_roster_csv(tmp_path / "r.csv", run.roster)).returncode == 0
    start_worker()
    publish_run(bootstrap, names, run)
    distinct = len({e.event_id for e in run.events})
    wait_until(lambda: _rows(dsn, "SELECT count(*) FROM inbox")[0][0] >= distinct,
               timeout=240, what=f"{distinct} distinct events in the inbox")
    assert _rows(dsn, "SELECT count(*) FROM inbox")[0][0] == distinct
    assert _rows(dsn, "SELECT count(*) FROM rm_cases")[0][0] == exp.cases
    assert _rows(dsn, "SELECT count(*) FROM rm_dispatches WHERE requested_at IS NOT NULL")[0][0] \
        == exp.dispatches
    assert _rows(dsn, "SELECT count(*) FROM rm_reviews WHERE stage = 'survey'")[0][0] \
        == exp.survey_reviews
    assert _rows(dsn, "SELECT count(*) FROM rm_complaints")[0][0] == exp.complaints
    assert _rows(dsn, PARKED_WAITING_SQL)[0][0] == 0
    statuses = dict(_rows(dsn, "SELECT case_id, status FROM rm_cases"))
    wrong = {c: (statuses.get(c), s) for c, s in exp.status.items() if statuses.get(c) != s}
    assert wrong == {}
    (count, total), = _rows(dsn, "SELECT count(*), coalesce(sum(amount), 0) FROM rm_payouts")
    assert (count, Decimal(total)) == (exp.payout_count, exp.payout_sum)
    paths = dict(_rows(dsn, "SELECT case_id, approval_path FROM rm_payouts"))
    assert paths == {c: p for c, p in exp.approval_path.items() if c in paths} and \
        set(paths) == set(exp.payouts)
    overloaded = _rows(dsn, "SELECT adjuster_id FROM rm_adjuster_load WHERE load > capacity")
    assert overloaded == []
    # v2 (SPEC §4.8, §4.9, §4.12): settlements, closure, withdrawals, notices
    payout_status = dict(_rows(dsn, "SELECT case_id, status FROM rm_payouts"))
    assert payout_status == exp.payout_status
    assert dict(_rows(dsn, "SELECT status, count(*) FROM rm_settlements"
                           " WHERE outcome = 'applied' GROUP BY 1")) == dict(exp.settlements)
    closed = sum(1 for s in exp.status.values() if s == "closed")
    assert _rows(dsn, "SELECT coalesce(sum(closed), 0), coalesce(sum(withdrawn), 0)"
                      " FROM rm_daily_stats") == [(closed, len(exp.withdrawn))]
    assert _rows(dsn, "SELECT count(*) FROM rm_cases WHERE status IN ('closed', 'withdrawn',"
                      " 'rejected') AND closed_at IS NULL") == [(0,)]
    notices = dict(_rows(dsn, "SELECT kind, count(*) FROM rm_notices GROUP BY 1"))
    assert notices.get("payment_paid", 0) == len(exp.paid_once)
    assert notices.get("documents_required", 0) == sum(
        n for stage, c in exp.reviews.items() if stage != "complaint"
        for d, n in c.items() if d == "documents_requested")
