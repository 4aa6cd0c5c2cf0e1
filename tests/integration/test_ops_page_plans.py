"""The ops page stays fast with a year of data only if its "today" statistics are index
ranges: a filter on rm_daily_stats.day must reach every branch of the view as a range on a
day-expression index (migrations 0050, 0052). Checked on the plan, with sequential scans
priced out, so a branch without a usable index shows up as a Seq Scan whatever the data size.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from workers.ops_panels.stats import Q_STATS

pytestmark = pytest.mark.integration


def test_todays_daily_stats_are_index_ranges_in_every_branch(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            ("EXPLAIN " + Q_STATS).encode(), (date(2026, 11, 21), 200)))
    assert "Seq Scan" not in plan, (
        "a branch of rm_daily_stats cannot use an index for `day = …`: give its time column a"
        " day-expression index like those of migrations 0050/0052\n" + plan)
    assert plan.count("_day") >= 6  # the day indexes (cases, dispatches, reviews, …) are used
