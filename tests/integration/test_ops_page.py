"""The ops page on real Postgres, loaded in real headless Chromium.

Rows go straight into the base tables at a fixed clock; the page is rendered through an
``AsyncConnectionPool``, served by ``http.server`` on 127.0.0.1 and read back from
Chromium's DOM (``--dump-dom``) plus a screenshot.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from workers.ops_page import fetch_page, page_time, render_html, render_ops_page
from workers.ops_panels import PageTime, Panel, Reader, Row, discover_panels

pytestmark = pytest.mark.integration

NOW = datetime(2025, 7, 14, 2, 30, tzinfo=UTC)  # 10:30 in Asia/Shanghai
PII_PHONE = "13912345678"
SURGE_SUMMARY = "温州市 surge: 57 reports in 10 min (>= 6 x baseline)"
XSS = "<script>document.title='pwned'</script>"


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def _seed(dsn: str) -> None:
    case_sql = (
        "INSERT INTO cases (case_id, insurer, report_no, policy_no_masked, line, channel, province,"
        " city, cause, status, stage, estimated_amount, reported_at, occurred_at, updated_at,"
        " source, event_id, data_hash) VALUES (%s, 'PICC', %s, '****1234', 'auto', 'app', %s, %s,"
        " 'collision', %s, %s, 5000, %s, %s, %s, 'test', %s, 'h')"
    )
    with psycopg.connect(dsn) as conn:
        for i, t in enumerate([ago(minutes=40), ago(minutes=20), ago(minutes=5)], 1):
            conn.execute(case_sql, (f"C{i}", f"R{i}", "浙江省", "温州市", "dispatched", "survey",
                                    t, t, t, f"e-c{i}"))
        old = ago(days=1, hours=2)
        conn.execute(case_sql, ("C4", "R4", "江苏省", "南京市", "second_review", "second",
                                old, old, old, "e-c4"))
        for i, minutes in enumerate([12, 5, 1], 1):
            conn.execute(
                "INSERT INTO dispatches (dispatch_id, case_id, province, city, urgency,"
                " requested_at, status) VALUES (%s, %s, '浙江省', '温州市', 'urgent', %s, 'queued')",
                (f"D{i}", f"C{i}", ago(minutes=minutes)),
            )
        clock_sql = (
            "INSERT INTO sla_clocks (subject_type, subject_id, clock, insurer, line, province,"
            " started_at, window_s, warn_s, due_at, warn_at, warned_at, breached_at)"
            " VALUES (%s, %s, %s, 'PICC', 'auto', %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        s = ago(minutes=40)  # dispatch clock of C1: 30 min window, breached 10 min ago
        conn.execute(clock_sql, ("case", "C1", "dispatch", "浙江省", s, 1800, 1440,
                                 s + timedelta(minutes=30), s + timedelta(minutes=24),
                                 s + timedelta(minutes=24), s + timedelta(minutes=30)))
        s = ago(minutes=12)
        conn.execute(clock_sql, ("dispatch", "D1", "survey", "浙江省", s, 14400, 11520,
                                 s + timedelta(hours=4), s + timedelta(hours=3.2), None, None))
        complaint_sql = (
            "INSERT INTO complaints (complaint_id, case_id, insurer, channel, category, owner,"
            " status, filed_at, due_at, source, event_id, data_hash)"
            " VALUES (%s, %s, 'PICC', 'phone', 'service', 'desk', 'open', %s, %s, 'test', %s, 'h')"
        )
        conn.execute(complaint_sql, ("P1", "C1", ago(hours=1), ago(hours=1) + timedelta(days=15),
                                     "e-p1"))
        conn.execute(complaint_sql, ("P2", "C4", ago(days=20), ago(days=5), "e-p2"))
        conn.execute(
            "INSERT INTO parked_events (source, event_id, subject_type, subject_id, data_time,"
            " payload, parked_at) VALUES ('test', 'e-park', 'case', 'C9', %s, '{}', %s)",
            (ago(hours=2), ago(hours=2)),
        )
        for i, (created, published) in enumerate(
            [(ago(seconds=90), None), (ago(seconds=30), None), (ago(minutes=9), ago(minutes=8))]
        ):
            conn.execute(
                "INSERT INTO outbox (topic, key, value, event_id, created_at, published_at)"
                " VALUES ('alert-raised', 'k', %s, %s, %s, %s)",
                (b"{}", f"o{i}", created, published),
            )
        alert_sql = (
            "INSERT INTO alerts (alert_id, kind, severity, scope, scope_key, summary, staffing,"
            " opened_at, resolved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        conn.execute(alert_sql, (
            "A1", "surge", "critical", Jsonb({"province": "浙江省", "city": "温州市"}),
            "浙江省/温州市", SURGE_SUMMARY,
            Jsonb({"adjusters_needed": 12, "arrival_rate_per_hour": 342.0}), ago(minutes=8), None,
        ))
        conn.execute(alert_sql, (
            "A2", "backlog", "warning", Jsonb({"province": "浙江省", "city": "温州市"}),
            "backlog/温州市", f"{XSS} oldest queued 45 min", None, ago(minutes=3), None,
        ))
        conn.execute(alert_sql, (
            "A3", "consumer_lag", "warning", Jsonb({"topic": "case-reported"}), "lag",
            "OLD-RESOLVED", None, ago(hours=5), ago(hours=4),
        ))
        conn.execute(
            "INSERT INTO pii_vault (subject_type, subject_id, source, event_id, fields)"
            " VALUES ('case', 'C1', 'test', 'e-c1', %s)",
            (Jsonb({"reporter_phone": PII_PHONE, "reporter_name": "张三丰"}),),
        )


async def _render(dsn: str) -> str:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False,
                               kwargs={"autocommit": False})
    await pool.open(wait=True)
    try:
        runtime = SimpleNamespace(pool=pool, context=SimpleNamespace(clock=lambda: NOW))
        return await render_ops_page(cast(Any, runtime))
    finally:
        await pool.close()


def _chromium() -> str:
    for candidate in (os.environ.get("CLAIMDESK_CHROMIUM"), "/usr/bin/chromium", "chromium",
                      "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    if os.environ.get("CLAIMDESK_ALLOW_NO_CHROMIUM") == "1":
        pytest.skip("Chromium not installed (CLAIMDESK_ALLOW_NO_CHROMIUM=1)")
    pytest.fail("Chromium not found (/usr/bin/chromium or CLAIMDESK_CHROMIUM); install it"
                " (apt-get install chromium) or set CLAIMDESK_ALLOW_NO_CHROMIUM=1 to skip")


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served on 127.0.0.1 (free port) and the base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Sections(HTMLParser):
    """Per ``<section>``: its class, its text and its table rows (lists of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict[str, Any]] = []
        self.title = ""
        self._tag: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag.append(tag)
        if tag == "section":
            self.sections.append({"class": dict(attrs).get("class") or "", "text": "", "rows": []})
        elif tag == "tr" and self.sections:
            self.sections[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._tag:
            self._tag.pop()
        if tag in ("td", "th") and self._cell is not None and self.sections:
            self.sections[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._tag and self._tag[-1] == "title":
            self.title += data
        if self._cell is not None:
            self._cell.append(data)
        if self.sections:
            self.sections[-1]["text"] += data

    def find(self, heading: str) -> dict[str, Any]:
        return next(s for s in self.sections if heading in s["text"])


def test_ops_page_in_chromium(dsn: str, serve: tuple[Path, str], tmp_path: Path) -> None:
    chromium = _chromium()
    _seed(dsn)
    html = asyncio.run(_render(dsn))
    root, base = serve
    (root / "index.html").write_text(html, encoding="utf-8")
    url = f"{base}/index.html"

    dom = _browser(chromium, tmp_path / "profile-dom", "--dump-dom", url).stdout
    shot = tmp_path / "ops.png"
    _browser(chromium, tmp_path / "profile-shot", f"--screenshot={shot}",
             "--window-size=1280,1600", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page = Sections()
    page.feed(dom)
    assert page.title == "claimdesk ops"  # the <script> in an alert summary never ran
    assert PII_PHONE not in dom and PII_PHONE not in html and "张三丰" not in dom

    surge = page.find("Surges")
    assert "surge" in surge["class"]
    assert ["critical", "province=浙江省, city=温州市", SURGE_SUMMARY, "2025-07-14 10:22:00",
            "12", "342.0 cases/h"] in surge["rows"]

    backlog = page.find("Backlog")
    assert ["浙江省", "温州市", "3", "12 min"] in backlog["rows"]
    text = " ".join(backlog["text"].split())
    assert "Open complaints 未结投诉2" in text and "Overdue complaints 超期1" in text
    assert "Parked events 暂存1oldest 2 h 00 min" in text
    assert "Outbox pending 待发2oldest 1 min" in text
    assert ["second", "second_review", "1"] in page.find("Pending reviews")["rows"]

    sla = page.find("SLA clocks")["rows"]
    assert ["dispatch", "1", "0", "0", "1", "1"] in sla  # running, overdue and breached
    assert ["survey", "1", "0", "0", "0", "0"] in sla

    alerts = page.find("Open alerts")
    assert "Open alerts (2)" in alerts["text"]
    assert any(XSS in cell for row in alerts["rows"] for cell in row)  # shown as text
    assert "OLD-RESOLVED" not in dom

    today = page.find("Today (2025-07-14, Asia/Shanghai)")["rows"]
    assert ["PICC", "auto", "浙江省", "3", "3", "0", "0", "0", "1", "1"] in today
    assert not any("江苏省" in row for row in today)  # C4 was reported yesterday
    assert "2025-07-14 10:30:00" in dom  # time of rendering, Asia/Shanghai


async def _render_with(dsn: str, extra: list[Panel[Any]]) -> str:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False,
                               kwargs={"autocommit": False})
    await pool.open(wait=True)
    try:
        t = page_time(NOW)
        panels = sorted([*discover_panels(), *extra], key=lambda p: (p.order, p.name))
        return render_html(t, await fetch_page(pool, t, panels))
    finally:
        await pool.close()


def test_failing_panel_leaves_the_others(dsn: str) -> None:
    """A panel whose query fails (here: a table no migration created) shows as unavailable;
    the panels after it still read in the same transaction (its savepoint rolled back)."""

    async def fetch_missing(db: Reader, t: PageTime) -> list[Row]:
        return await db.rows("SELECT count(*) FROM no_such_table")

    def render_missing(rows: list[Row], t: PageTime) -> str:
        raise AssertionError("never rendered: its fetch failed")

    _seed(dsn)
    broken: Panel[list[Row]] = Panel("broken", 11, fetch_missing, render_missing)
    page = Sections()
    page.feed(asyncio.run(_render_with(dsn, [broken])))
    assert "query failed (UndefinedTable)" in page.find("broken: unavailable")["text"]
    assert ["浙江省", "温州市", "3", "12 min"] in page.find("Backlog")["rows"]  # order 20 > 11
    assert "Open alerts (2)" in page.find("Open alerts")["text"]


def test_panels_are_discovered_in_order() -> None:
    names = [p.name for p in discover_panels()]
    core = ["surges", "surge_windows", "backlog", "sla_clocks", "clocks_at_risk", "trends",
            "alerts", "daily_stats"]
    assert [n for n in names if n in core] == core
    orders = [p.order for p in discover_panels()]
    assert orders == sorted(orders)
