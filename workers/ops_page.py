"""The ops page ``/``: one self-refreshing HTML page assembled from panels.

The panels live in :mod:`workers.ops_panels` (one module each, discovered). This module owns
what they share: one short read-only transaction with a statement timeout (one consistent
snapshot, never ``pii_vault``, SPEC §8), a savepoint per panel so one failing panel cannot
take the page down, and the page shell. :func:`fetch_page` queries, :func:`render_html` is
pure (results → HTML).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from workers.ops_panels import PageTime, Panel, Reader, discover_panels
from workers.ops_panels.chart import ASSET_PATH, LOADER
from workers.ops_panels.html import SHANGHAI, fmt_time, section
from workers.rules.policy import Policy

if TYPE_CHECKING:
    from workers.runtime import Runtime

STATEMENT_TIMEOUT_MS = 3000
REFRESH_S = 10


@dataclass(frozen=True)
class PanelResult:
    """What one panel's fetch produced, or why it failed (the error's type name only)."""

    panel: Panel[Any]
    data: Any = None
    error: str | None = None


def page_time(now: datetime, policy: Policy | None = None) -> PageTime:
    """The page clock for aware ``now``."""
    return PageTime(now=now, today=now.astimezone(SHANGHAI).date(), policy=policy or Policy())


async def fetch_page(pool: AsyncConnectionPool, t: PageTime,
                     panels: Sequence[Panel[Any]]) -> list[PanelResult]:
    """Run every panel's fetch in one read-only transaction, each in its own savepoint."""
    results: list[PanelResult] = []
    async with pool.connection(timeout=5) as conn, conn.transaction():
        cur = conn.cursor()
        await cur.execute("SET TRANSACTION READ ONLY")
        await cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        reader = Reader(cur)
        for panel in panels:
            try:
                async with conn.transaction():
                    results.append(PanelResult(panel, data=await panel.fetch(reader, t)))
            except psycopg.Error as exc:  # the savepoint rolled back; the page goes on
                results.append(PanelResult(panel, error=type(exc).__name__))
    return results


async def render_ops_page(runtime: Runtime) -> str:
    """The ops page of ``runtime``'s database, as one self-contained HTML document."""
    now = runtime.context.clock()
    if runtime.pool is None:
        return render_unavailable(now, "not connected to Postgres yet")
    book = getattr(runtime.context, "policy", None)
    t = page_time(now, book.default if book is not None else None)
    try:
        results = await fetch_page(runtime.pool, t, discover_panels())
    except (psycopg.Error, OSError) as exc:  # PoolTimeout is a psycopg.Error
        return render_unavailable(now, f"database query failed ({type(exc).__name__})")
    return render_html(t, results)


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
th,td{text-align:left;padding:3px 5px;border-bottom:1px solid #e4e6eb;vertical-align:top}
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
.chart svg{max-width:100%;height:auto}
"""


def render_panel(result: PanelResult, t: PageTime) -> str:
    """One panel's section, or a small "unavailable" section when its fetch failed."""
    if result.error is not None:
        return section(f"{result.panel.name}: unavailable",
                       f'<p class="bad">query failed ({escape(result.error)})</p>')
    return result.panel.render(result.data, t)


def _page(now: datetime, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>claimdesk ops</title><style>{CSS}</style><script src="{ASSET_PATH}" defer>'
        "</script></head><body>"
        "<header><h1>claimdesk 理赔运营 Ops</h1><span>rendered "
        f'<time datetime="{escape(now.isoformat())}">{escape(fmt_time(now))}</time> '
        f"(Asia/Shanghai) · {escape(now.strftime('%H:%M:%S'))} UTC · refresh {REFRESH_S} s</span>"
        f"</header><main>{body}</main>{LOADER}</body></html>\n"
    )


def render_html(t: PageTime, results: Sequence[PanelResult]) -> str:
    """The whole page (pure)."""
    return _page(t.now, "".join(render_panel(r, t) for r in results))


def render_unavailable(now: datetime, reason: str) -> str:
    """The page while the database cannot be read."""
    return _page(now, f'<section class="wide"><h2 class="bad">Data unavailable</h2>'
                      f"<p>{escape(reason)}</p></section>")
