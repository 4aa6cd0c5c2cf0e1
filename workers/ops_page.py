"""The ops page ``/``: backlog, SLA state, open alerts, surges and today's statistics.

Reads only the ``rm_*`` views and the plumbing tables ``parked_events`` / ``outbox``
(never ``pii_vault``, SPEC §8), in one short read-only transaction with a statement
timeout. :func:`fetch_snapshot` queries, :func:`render_html` is pure (snapshot → HTML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from workers.runtime import Runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOP_CITIES = 20
MAX_ALERTS = 50
MAX_STATS_ROWS = 200
STATEMENT_TIMEOUT_MS = 3000
STAT_COLUMNS = ("reported", "dispatched", "surveyed", "approved", "rejected", "complaints",
                "sla_breaches")

SCOPE_ORDER = ("kind", "insurer", "line", "province", "city", "clock", "adjuster_id", "topic")

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything the page shows, as plain rows (see the queries for the column order)."""

    now: datetime
    today: date
    queued: list[Row]  # province, city, queued, oldest requested_at
    stages: list[Row]  # stage, status, cases
    complaints: Row  # open, overdue
    parked: Row  # count, oldest parked_at
    outbox: Row  # pending, oldest created_at
    clocks: list[Row]  # clock, running, paused, warned, overdue, breached_24h
    alerts: list[Row]  # kind, severity, scope, summary, opened_at, staffing
    stats: list[Row]  # insurer, line, province, *STAT_COLUMNS


Q_QUEUED = """SELECT province, city, count(*), min(requested_at) FROM rm_dispatches
WHERE status = 'queued' GROUP BY province, city ORDER BY 3 DESC, 4 LIMIT %s"""
Q_STAGES = """SELECT stage, status, count(*) FROM rm_cases WHERE status NOT IN
('reported', 'dispatched', 'approved', 'rejected') GROUP BY 1, 2 ORDER BY 1, 2"""
Q_COMPLAINTS = """SELECT count(*), count(*) FILTER (WHERE due_at < %s)
FROM rm_complaints WHERE status = 'open'"""
Q_PARKED = "SELECT count(*), min(parked_at) FROM parked_events"
Q_OUTBOX = "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL"
Q_CLOCKS = """SELECT clock,
 count(*) FILTER (WHERE stopped_at IS NULL AND NOT paused),
 count(*) FILTER (WHERE stopped_at IS NULL AND paused),
 count(*) FILTER (WHERE stopped_at IS NULL AND warned_at IS NOT NULL AND breached_at IS NULL),
 count(*) FILTER (WHERE stopped_at IS NULL AND breached_at IS NOT NULL),
 count(*) FILTER (WHERE breached_at >= %s)
FROM rm_sla_clocks WHERE stopped_at IS NULL OR breached_at >= %s GROUP BY clock ORDER BY clock"""
Q_ALERTS = """SELECT kind, severity, scope, summary, opened_at, staffing FROM rm_alerts
WHERE resolved_at IS NULL
ORDER BY kind = 'surge' DESC, severity = 'critical' DESC, opened_at DESC LIMIT %s"""
Q_STATS = f"""SELECT insurer, line, province, {", ".join(STAT_COLUMNS)} FROM rm_daily_stats
WHERE day = %s ORDER BY insurer, line, province LIMIT %s"""


async def fetch_snapshot(pool: AsyncConnectionPool, now: datetime) -> Snapshot:
    """Run the page's queries in one read-only transaction; ``now`` is aware UTC."""
    today = now.astimezone(SHANGHAI).date()
    since = now - timedelta(hours=24)
    async with pool.connection(timeout=5) as conn, conn.transaction():
        cur = conn.cursor()
        await cur.execute("SET TRANSACTION READ ONLY")
        await cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")

        async def rows(sql: str, *args: Any) -> list[Row]:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

        return Snapshot(
            now=now, today=today,
            queued=await rows(Q_QUEUED, TOP_CITIES),
            stages=await rows(Q_STAGES),
            complaints=(await rows(Q_COMPLAINTS, now))[0],
            parked=(await rows(Q_PARKED))[0],
            outbox=(await rows(Q_OUTBOX))[0],
            clocks=await rows(Q_CLOCKS, since, since),
            alerts=await rows(Q_ALERTS, MAX_ALERTS),
            stats=await rows(Q_STATS, today, MAX_STATS_ROWS),
        )


async def render_ops_page(runtime: Runtime) -> str:
    """The ops page of ``runtime``'s database, as one self-contained HTML document."""
    now = runtime.context.clock()
    if runtime.pool is None:
        return render_unavailable(now, "not connected to Postgres yet")
    try:
        snapshot = await fetch_snapshot(runtime.pool, now)
    except (psycopg.Error, OSError) as exc:  # PoolTimeout is a psycopg.Error
        return render_unavailable(now, f"database query failed ({type(exc).__name__})")
    return render_html(snapshot)


# --- rendering (pure) -------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;
 justify-content:space-between;align-items:baseline}
header h1{font-size:18px;margin:0}
main{padding:12px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));
 gap:14px}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002;
 overflow-x:auto}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:10px 0 6px}
section>h2:first-child{margin-top:2px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #e4e6eb;vertical-align:top}
th{font-weight:600;color:#555;font-size:12px}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;gap:10px;flex-wrap:wrap}
.kpi{border:1px solid #e4e6eb;border-radius:6px;padding:6px 10px;min-width:120px}
.kpi b{display:block;font-size:20px}
.bad{color:#b3261e;font-weight:600}
.surge{background:#fdecea;border:2px solid #b3261e}
.sev-critical{background:#b3261e;color:#fff;border-radius:3px;padding:0 5px}
.sev-warning{background:#f0a500;color:#000;border-radius:3px;padding:0 5px}
.muted{color:#777}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def fmt_time(ts: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai, or ``–``."""
    return "–" if ts is None else ts.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def fmt_age(now: datetime, since: datetime | None) -> str:
    """Coarse age of ``since`` at ``now``: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    if since is None:
        return "–"
    s = max(0, int((now - since).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def fmt_scope(scope: Any) -> str:
    """An alert's jsonb scope as ``key=value, …`` text."""
    if isinstance(scope, str):
        try:
            scope = json.loads(scope)
        except ValueError:
            return str(scope)
    if isinstance(scope, dict):
        keys = sorted(scope, key=lambda k: (SCOPE_ORDER.index(k) if k in SCOPE_ORDER
                                            else len(SCOPE_ORDER), k))
        return ", ".join(f"{k}={scope[k]}" for k in keys)
    return "" if scope is None else str(scope)


def adjusters_needed(staffing: Any) -> str:
    """``staffing.adjusters_needed`` of a surge alert, or empty."""
    if isinstance(staffing, str):
        try:
            staffing = json.loads(staffing)
        except ValueError:
            return ""
    if isinstance(staffing, dict) and staffing.get("adjusters_needed") is not None:
        return str(staffing["adjusters_needed"])
    return ""


def _table(headers: list[str], rows: list[list[str]], numeric_from: int, empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(r)
        ) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bad_if(n: object) -> str:
    return f'<span class="bad">{_e(n)}</span>' if n else _e(n)


def _kpi(label: str, value: object, note: str = "", bad: bool = False) -> str:
    cls = ' class="bad"' if bad else ""
    extra = f'<span class="muted">{escape(note)}</span>' if note else ""
    return f'<div class="kpi">{escape(label)}<b{cls}>{_e(value)}</b>{extra}</div>'


def render_surges(s: Snapshot) -> str:
    """Highlighted banner of open surge alerts (empty when none)."""
    surges = [a for a in s.alerts if a[0] == "surge"]
    if not surges:
        return ""
    rows = [[f'<span class="sev-{_e(a[1])}">{_e(a[1])}</span>', _e(fmt_scope(a[2])), _e(a[3]),
             _e(fmt_time(a[4])), _e(adjusters_needed(a[5]))] for a in surges]
    table = _table(["severity", "scope", "summary", "opened", "adjusters needed"], rows, 4, "")
    return f'<section class="wide surge"><h2>巨灾应急 Surges ({len(surges)})</h2>{table}</section>'


def render_backlog(s: Snapshot) -> str:
    """Backlog KPIs, queued dispatches per city and pending reviews per stage."""
    open_c, overdue_c = s.complaints
    parked, parked_oldest = s.parked
    pending, pending_oldest = s.outbox
    kpis = "".join([
        _kpi("Open complaints 未结投诉", open_c),
        _kpi("Overdue complaints 超期", overdue_c, bad=bool(overdue_c)),
        _kpi("Parked events 暂存", parked, f"oldest {fmt_age(s.now, parked_oldest)}"),
        _kpi("Outbox pending 待发", pending, f"oldest {fmt_age(s.now, pending_oldest)}"),
    ])
    queued = _table(
        ["province", "city", "queued", "oldest"],
        [[_e(p), _e(c), _e(n), _e(fmt_age(s.now, t))] for p, c, n, t in s.queued], 2,
        "No queued dispatches.",
    )
    stages = _table(["stage", "status", "cases"],
                    [[_e(st), _e(status), _e(n)] for st, status, n in s.stages], 2,
                    "No reviews pending.")
    return (f'<section><h2>积压 Backlog</h2><div class="kpis">{kpis}</div>'
            f"<h2>Queued dispatches (top {TOP_CITIES} cities)</h2>{queued}"
            f"<h2>待审 Pending reviews per stage</h2>{stages}</section>")


def render_sla(s: Snapshot) -> str:
    """Per clock: running, paused, warned (open, past 80 %), overdue (open, past 100 %) and
    breached in the last 24 h (stopped or not)."""
    rows = [[_e(c), _e(run), _e(paused), _e(warned), _bad_if(over), _bad_if(br)]
            for c, run, paused, warned, over, br in s.clocks]
    table = _table(["clock", "running", "paused", "warned", "overdue", "breached 24 h"], rows, 1,
                   "No running clocks and no breach in 24 h.")
    return f"<section><h2>时效 SLA clocks</h2>{table}</section>"


def render_alerts(s: Snapshot) -> str:
    """All open alerts, surges first."""
    rows = [[_e(k), f'<span class="sev-{_e(sev)}">{_e(sev)}</span>', _e(fmt_scope(scope)),
             _e(summary), _e(fmt_time(opened)), _e(adjusters_needed(staffing))]
            for k, sev, scope, summary, opened, staffing in s.alerts]
    table = _table(["kind", "severity", "scope", "summary", "opened", "adjusters needed"],
                   rows, 5, "No open alerts.")
    return f'<section class="wide"><h2>告警 Open alerts ({len(s.alerts)})</h2>{table}</section>'


def render_stats(s: Snapshot) -> str:
    """Today's rm_daily_stats rows (Asia/Shanghai day) with a total row."""
    rows = [[_e(v) for v in r] for r in s.stats]
    if s.stats:
        totals = [sum(int(r[i]) for r in s.stats) for i in range(3, 3 + len(STAT_COLUMNS))]
        rows.append(["<b>Total</b>", "", ""] + [f"<b>{t}</b>" for t in totals])
    table = _table(["insurer", "line", "province", *STAT_COLUMNS], rows, 3,
                   "No events today yet.")
    return (f'<section class="wide"><h2>今日统计 Today ({s.today.isoformat()}, Asia/Shanghai)'
            f"</h2>{table}</section>")


def _page(now: datetime, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>claimdesk ops</title><style>{CSS}</style></head><body>"
        "<header><h1>claimdesk 理赔运营 Ops</h1><span>rendered "
        f'<time datetime="{escape(now.isoformat())}">{escape(fmt_time(now))}</time> '
        f"(Asia/Shanghai) · {escape(now.strftime('%H:%M:%S'))} UTC · refresh 5 s</span>"
        f"</header><main>{body}</main></body></html>\n"
    )


def render_html(s: Snapshot) -> str:
    """The whole page for ``s`` (pure)."""
    return _page(s.now, render_surges(s) + render_backlog(s) + render_sla(s)
                 + render_alerts(s) + render_stats(s))


def render_unavailable(now: datetime, reason: str) -> str:
    """The page while the database cannot be read."""
    return _page(now, f'<section class="wide"><h2 class="bad">Data unavailable</h2>'
                      f"<p>{escape(reason)}</p></section>")
