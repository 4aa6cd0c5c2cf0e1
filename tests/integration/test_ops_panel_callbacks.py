"""The ops page's callbacks panel (回访与督办): callbacks due, dissatisfied today, open
escalations per owner — read from rm_callbacks and rm_escalations only."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from workers.ops_page import fetch_page, page_time, render_html
from workers.ops_panels.callbacks import PANELS

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
H = timedelta(hours=1)


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        for n, (status, due, done, score, report) in enumerate([
            ("requested", NOW + H, None, None, False),
            ("requested", NOW - H, None, None, False),  # overdue
            ("reached", NOW + H, NOW - 2 * H, 1, True),  # dissatisfied today, reported
            ("reached", NOW + H, NOW - 3 * H, 5, False),
            ("reached", NOW + H, NOW - 20 * H, 2, False),  # yesterday in Shanghai
        ]):
            conn.execute(
                "INSERT INTO callbacks (callback_id, kind, case_id, reason, status, requested_at,"
                " due_by, enqueued, satisfaction, report, completed_at, result_attempt)"
                " VALUES (%s, 'dispatch', 'C-1', 'sampled', %s, %s, %s, true, %s, %s, %s, %s)",
                (f"cb-{n}", status, due - 48 * H, due, score, report, done,
                 1 if done else None))
        for n, (to, level, cause) in enumerate([
            ("CS-0012", "owner", "determination"), ("CS-0012", "owner", "initial_review"),
            ("supervisor:PICC", "supervisor", "dissatisfied")]):  # no open state
            conn.execute(
                "INSERT INTO escalations (escalation_id, subject_type, subject_id, cause, level,"
                " to_id, raised_at, summary) VALUES (%s, 'payout', %s, %s, %s, %s, %s, 's')",
                (f"e-{n}", f"P-{n}", cause, level, to, NOW - H))
            if cause != "dissatisfied":  # a clock escalation's clock: running, warning mark set
                conn.execute(
                    "INSERT INTO sla_clocks (subject_type, subject_id, clock, started_at, window_s,"
                    " warn_s, due_at, warn_at, warned_at) VALUES ('payout', %s, %s, %s, 3600,"
                    " 2880, %s, %s, %s)", (f"P-{n}", cause, NOW - 2 * H, NOW - H, NOW - 72 * H / 60,
                                           NOW - 72 * H / 60))


def test_callbacks_panel_counts_due_dissatisfied_today_and_open_escalations(dsn: str) -> None:
    _seed(dsn)

    async def render() -> str:
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False,
                                   kwargs={"autocommit": False})
        await pool.open(wait=True)
        try:
            t = page_time(NOW)
            return render_html(t, await fetch_page(pool, t, PANELS))
        finally:
            await pool.close()

    html = asyncio.run(render())
    assert "callbacks: unavailable" not in html and "回访与督办" in html
    for label, value in [("Callbacks due 待回访", 2), ("Overdue 超时", 1),
                         ("Reached today 今日回访", 2), ("Dissatisfied today 不满意", 1),
                         ("Reports today 举报", 1)]:
        assert re.search(f'{label}<b[^>]*>{value}</b>', html), label
    assert "CS-0012" in html and "supervisor:PICC" not in html
