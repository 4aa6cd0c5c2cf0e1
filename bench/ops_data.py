"""A year of claims in a scratch schema, for timing the ops page and the reports at scale.

``python -m bench.ops_data --dsn postgresql://127.0.0.1:5432/test --cases 1000000`` creates
(or replaces) schema ``ops_scale``, migrates it and fills the base tables with SQL
``generate_series`` — about ``cases`` cases evenly spread over the 365 days before ``--now``,
one dispatch, a survey and a decision per case, four SLA clocks per case (a few per cent
breached), complaints, alerts, surge windows, published outbox rows, and a live tail (the last
two days still in flight). Then it times every ops page panel (median of ``--repeat`` runs,
through the page's own read-only transaction) and the report queries, and prints a table.
Nothing here is a test; the numbers go to the notes and docs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.sql import Literal
from psycopg_pool import AsyncConnectionPool

from infra.db import migrate
from workers.ops_page import fetch_page, page_time
from workers.ops_panels import discover_panels
from workers.sim.data import CITIES

SCHEMA = "ops_scale"
LINES = ["auto", "property", "cargo", "liability", "health", "agriculture"]
INSURERS = ["PICC", "PINGAN", "CPIC", "CHINALIFE", "TAIPING"]

# $1 now, $2 n cases, $3 provinces[], $4 cities[], $5 insurers[], $6 lines[]
FILL = [
    """CREATE TEMP TABLE g ON COMMIT DROP AS
    SELECT i, $1::timestamptz - (($2::int - i) * (interval '365 days' / $2::int))
               - ((i::bigint * 7919) % 600) * interval '1 s' AS t,
           1 + (i * 37) % array_length($4::text[], 1) AS ci,
           ($5::text[])[1 + (i * 13) % array_length($5::text[], 1)] AS insurer,
           ($6::text[])[1 + (i * 7) % 6] AS line
    FROM generate_series(1, $2::int) i""",
    """INSERT INTO cases (case_id, insurer, report_no, policy_no_masked, line, channel, province,
        city, cause, status, stage, estimated_amount, reported_at, occurred_at, closed_at,
        updated_at, source, event_id, data_hash)
    SELECT 'C' || i, insurer, 'R' || i, '****1234', line, 'app', ($3::text[])[ci],
        ($4::text[])[ci], 'collision',
        CASE WHEN t > $1::timestamptz - interval '2 days' THEN
                  (ARRAY['reported','dispatched','surveyed','initial_review','second_review',
                         'documents_pending'])[1 + i % 6]
             WHEN i % 10 = 0 THEN 'rejected' ELSE 'approved' END,
        CASE WHEN t > $1::timestamptz - interval '2 days' THEN
                  (ARRAY[NULL,'survey','initial','initial','second','initial'])[1 + i % 6] END,
        1000 + (i % 50) * 300, t, t - interval '1 hour',
        CASE WHEN t <= $1::timestamptz - interval '2 days' THEN t + interval '3 days' END,
        t + interval '3 days', 'gen', 'ec' || i, 'h'
    FROM g""",
    """INSERT INTO dispatches (dispatch_id, case_id, task, skill, province, city, urgency,
        requested_at, status, adjuster_id, decided_at, survey_due_by, closed_at, closed_by_review)
    SELECT 'D' || i, 'C' || i, 'scene_survey', line, ($3::text[])[ci], ($4::text[])[ci],
        CASE WHEN i % 5 = 0 THEN 'urgent' ELSE 'normal' END, t + interval '10 min',
        CASE WHEN t > $1::timestamptz - interval '3 hours' AND i % 3 = 0 THEN 'queued'
             WHEN t > $1::timestamptz - interval '1 day' THEN 'assigned' ELSE 'surveyed' END,
        CASE WHEN t > $1::timestamptz - interval '3 hours' AND i % 3 = 0 THEN NULL
             ELSE 'ADJ-' || lpad(((i * 31) % 400)::text, 4, '0') END,
        t + interval '10 min', t + interval '1 day',
        CASE WHEN t <= $1::timestamptz - interval '1 day' THEN t + interval '20 hours' END,
        CASE WHEN t <= $1::timestamptz - interval '1 day' THEN 'RS' || i END
    FROM g""",
    """INSERT INTO reviews (review_id, stage, case_id, dispatch_id, reviewer_id, decision, amount,
        disputed, completed_at, outcome, source, event_id, data_hash)
    SELECT 'RS' || i, 'survey', 'C' || i, 'D' || i, 'ADJ-' || lpad(((i * 31) % 400)::text, 4, '0'),
        CASE WHEN i % 40 = 0 THEN 'unable' ELSE 'completed' END, 2000, false,
        t + interval '20 hours', 'applied', 'gen', 'er' || i, 'h'
    FROM g WHERE t <= $1::timestamptz - interval '1 day'""",
    """INSERT INTO reviews (review_id, stage, case_id, reviewer_id, decision, amount, disputed,
        completed_at, outcome, source, event_id, data_hash)
    SELECT 'RI' || i, 'initial', 'C' || i, 'REV-' || (i % 50),
        CASE WHEN i % 10 = 0 THEN 'rejected' ELSE 'approved' END,
        CASE WHEN i % 10 = 0 THEN NULL ELSE 2000 END, false, t + interval '3 days', 'applied',
        'gen', 'ei' || i, 'h'
    FROM g WHERE t <= $1::timestamptz - interval '2 days'""",
    """INSERT INTO sla_clocks (subject_type, subject_id, clock, insurer, line, province,
        started_at, window_s, warn_s, due_at, warn_at, warned_at, breached_at, stopped_at,
        paused_since)
    SELECT st, sid, clock, insurer, line, ($3::text[])[ci], s, w, w * 0.8,
        s + w * interval '1 s', s + w * 0.8 * interval '1 s',
        CASE WHEN late THEN s + w * 0.8 * interval '1 s' END,
        CASE WHEN late THEN s + w * interval '1 s' END,
        CASE WHEN t <= $1::timestamptz - stop_after THEN s + w * interval '1 s'
                 * CASE WHEN late THEN 1.2 ELSE 0.5 END END,
        CASE WHEN clock = 'determination' AND i % 97 = 0 AND t > $1::timestamptz - interval '2 days'
             THEN t + interval '1 day' END
    FROM g, LATERAL (VALUES
        ('case', 'C' || i, 'dispatch', t, 1800.0, interval '1 hour', i % 50 = 0),
        ('dispatch', 'D' || i, 'survey', t + interval '10 min', 86400.0, interval '1 day', i % 25 = 0),
        ('case', 'C' || i, 'initial_review', t + interval '20 hours', 259200.0, interval '2 days',
         i % 40 = 1),
        ('case', 'C' || i, 'determination', t, 2592000.0, interval '2 days', false)
    ) AS c(st, sid, clock, s, w, stop_after, late)""",
    """INSERT INTO complaints (complaint_id, case_id, insurer, channel, category,
        against_adjuster_id, owner, status, city, filed_at, due_at, closed_at, source, event_id,
        data_hash)
    SELECT 'P' || i, 'C' || i, insurer, 'phone',
        (ARRAY['service_attitude','delay','amount_dispute','adjuster_conduct','privacy','other'])
            [1 + i % 6],
        CASE WHEN i % 2 = 0 THEN 'ADJ-' || lpad(((i * 31) % 400)::text, 4, '0') END, 'desk',
        CASE WHEN t > $1::timestamptz - interval '15 days' THEN 'open'
             WHEN i % 3 = 0 THEN 'upheld' ELSE 'dismissed' END,
        ($4::text[])[ci], t + interval '2 days', t + interval '17 days',
        CASE WHEN t <= $1::timestamptz - interval '15 days' THEN t + interval '10 days' END,
        'gen', 'ep' || i, 'h'
    FROM g WHERE i % 33 = 0""",
    """INSERT INTO surge_windows (scope_type, scope_key, window_start, count)
    SELECT 'city', ($3::text[])[ci] || '|' || ($4::text[])[ci],
        to_timestamp(floor(extract(epoch FROM t) / 600) * 600), count(*)
    FROM g GROUP BY 2, 3""",
    """INSERT INTO surge_windows (scope_type, scope_key, window_start, count)
    SELECT 'insurer', insurer, to_timestamp(floor(extract(epoch FROM t) / 600) * 600), count(*)
    FROM g GROUP BY 2, 3""",
    """INSERT INTO surge_state (scope_type, scope_key, baseline, last_closed_window)
    SELECT scope_type, scope_key, avg(count), max(window_start) FROM surge_windows GROUP BY 1, 2""",
    """INSERT INTO alerts (alert_id, kind, severity, scope, scope_key, summary, opened_at,
        resolved_at)
    SELECT 'A' || i, (ARRAY['surge','backlog','sla_breach','consumer_lag'])[1 + i % 4],
        'warning', jsonb_build_object('city', ($4::text[])[ci]), 'k' || i, 'generated',
        t, CASE WHEN i % 250000 <> 0 THEN t + interval '1 hour' END
    FROM g WHERE i % 500 = 0""",
    """INSERT INTO outbox (topic, key, value, event_id, created_at, published_at)
    SELECT 'dispatch-assigned', 'C' || i, '\\x7b7d'::bytea, 'od' || i, t, t + interval '1 s'
    FROM g""",
]

# v2 tables (issues 11, 12): payouts of approved cases (paid after a few days, some failed or
# still waiting), dispatch callbacks for a quarter of the cases, escalations of late clocks.
FILL_V2 = [
    """INSERT INTO payouts (payout_id, case_id, review_id, insurer, report_no, amount,
        approval_path, approved_at, pay_by, event_id, status, paid_at, failed_at, failure_code,
        first_paid_at)
    SELECT 'PO' || i, 'C' || i, 'RI' || i, insurer, 'R' || i, 2000, 'fast_track',
        t + interval '3 days', t + interval '13 days', 'op' || i,
        CASE WHEN t > $1::timestamptz - interval '9 days' THEN 'approved'
             WHEN i % 997 = 0 THEN 'failed' ELSE 'paid' END,
        CASE WHEN t <= $1::timestamptz - interval '9 days' AND i % 997 <> 0
             THEN t + interval '6 days' END,
        CASE WHEN t <= $1::timestamptz - interval '9 days' AND i % 997 = 0
             THEN t + interval '6 days' END,
        CASE WHEN t <= $1::timestamptz - interval '9 days' AND i % 997 = 0
             THEN 'account_invalid' END,
        CASE WHEN t <= $1::timestamptz - interval '9 days' AND i % 997 <> 0
             THEN t + interval '6 days' END
    FROM g WHERE t <= $1::timestamptz - interval '2 days' AND i % 10 <> 0""",
    """INSERT INTO callbacks (callback_id, kind, case_id, dispatch_id, adjuster_id, insurer,
        reason, status, requested_at, due_by, enqueued, result_attempt, satisfaction, praise,
        report, completed_at)
    SELECT 'CB' || i, 'dispatch', 'C' || i, 'D' || i,
        'ADJ-' || lpad(((i * 31) % 400)::text, 4, '0'), insurer, 'sampled',
        CASE WHEN t > $1::timestamptz - interval '3 days' THEN 'requested'
             WHEN i % 9 = 0 THEN 'unreachable' ELSE 'reached' END,
        t + interval '20 hours', t + interval '68 hours', true,
        CASE WHEN t <= $1::timestamptz - interval '3 days' AND i % 9 <> 0 THEN 1 END,
        CASE WHEN t <= $1::timestamptz - interval '3 days' AND i % 9 <> 0
             THEN 1 + (i / 4) % 5 END,
        i % 13 = 0, i % 401 = 0,
        CASE WHEN t <= $1::timestamptz - interval '3 days' THEN t + interval '30 hours' END
    FROM g WHERE i % 4 = 0""",
    """INSERT INTO escalations (escalation_id, subject_type, subject_id, case_id, cause, level,
        to_id, raised_at, due_at, summary, insurer)
    SELECT 'E' || lvl || i, 'case', 'C' || i, 'C' || i, 'dispatch', lvl,
        CASE lvl WHEN 'owner' THEN 'desk:' || insurer ELSE 'supervisor:' || insurer END,
        t + CASE lvl WHEN 'owner' THEN interval '24 min' ELSE interval '30 min' END,
        t + interval '30 min', 'generated', insurer
    FROM g, unnest(ARRAY['owner', 'supervisor']) AS lvl WHERE i % 50 = 0""",
]


def fill(dsn: str, n: int, now: datetime, v2_only: bool = False) -> None:
    """Replace schema ``ops_scale`` with ``n`` generated cases ending at ``now`` (``v2_only``:
    add only the v2 rows to an existing fill of the same ``n`` and ``now``)."""
    if not v2_only:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {SCHEMA}")
    url = scoped(dsn)
    migrate(url)
    args = (now, n, [c.province for c in CITIES], [c.name for c in CITIES], INSURERS, LINES)
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        literals = {f"${i}": Literal(a).as_string(conn) for i, a in enumerate(args, 1)}
        for sql in [FILL[0], *FILL_V2] if v2_only else FILL + FILL_V2:
            started = time.perf_counter()
            for name, text in literals.items():
                sql = sql.replace(name, text)
            conn.execute(sql.encode())
            print(f"  {time.perf_counter() - started:6.1f} s  {sql.split('(')[0].strip()[:60]}")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def scoped(dsn: str) -> str:
    """``dsn`` with the scratch schema first on the search path."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{SCHEMA}"


async def time_page(dsn: str, now: datetime, repeat: int) -> dict[str, float]:
    """Median milliseconds per panel fetch and for the whole page's queries."""
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False)
    await pool.open(wait=True)
    per_panel: dict[str, list[float]] = {}
    totals: list[float] = []
    try:
        t = page_time(now)
        panels = discover_panels()
        for _ in range(repeat):
            started = time.perf_counter()
            for panel in panels:
                p0 = time.perf_counter()
                results = await fetch_page(pool, t, [panel])
                per_panel.setdefault(panel.name, []).append((time.perf_counter() - p0) * 1000)
                if results[0].error:
                    print(f"  panel {panel.name} failed: {results[0].error}")
            totals.append((time.perf_counter() - started) * 1000)
            await fetch_page(pool, t, panels)
    finally:
        await pool.close()
    out = {name: statistics.median(ms) for name, ms in per_panel.items()}
    out["(all panels, one transaction each)"] = statistics.median(totals)
    return out


def time_sql(dsn: str, queries: dict[str, tuple[str, tuple[Any, ...]]], repeat: int) -> dict[str, float]:
    """Median milliseconds of each named query."""
    out: dict[str, float] = {}
    with psycopg.connect(dsn) as conn:
        for name, (sql, args) in queries.items():
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                conn.execute(sql, args).fetchall()
                runs.append((time.perf_counter() - started) * 1000)
            out[name] = statistics.median(runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--now", default="2026-12-04T12:00:00+00:00")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-fill", action="store_true", help="time the existing schema only")
    parser.add_argument("--add-v2", action="store_true",
                        help="add payouts, callbacks and escalations to an existing fill")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now).astimezone(UTC)
    if not args.no_fill:
        started = time.perf_counter()
        fill(args.dsn, args.cases, now, v2_only=args.add_v2)
        print(f"filled {args.cases} cases in {time.perf_counter() - started:.0f} s")
    url = scoped(args.dsn)
    migrate(url)  # --no-fill on a schema filled before later migrations
    day = now.astimezone(UTC) + timedelta(hours=8)
    month = date(day.year, day.month, 1)
    results = asyncio.run(time_page(url, now, args.repeat))
    results |= time_sql(url, {
        "report: rm_daily_stats, one month": (
            "SELECT * FROM rm_daily_stats WHERE day >= %s AND day < %s", (month, month + timedelta(days=31))),
        "report: rm_adjuster_scorecard, one month": (
            "SELECT * FROM rm_adjuster_scorecard WHERE month = %s", (month,)),
    }, args.repeat)
    for name, ms in results.items():
        print(f"{ms:9.1f} ms  {name}")


if __name__ == "__main__":
    main()
