"""The ops page's charts drawn by real headless Chromium: the surge windows with thresholds,
the queue/escalation trend and the clocks at risk, rendered client-side from the specs the
page ships, with the vega-embed bundle the worker serves (built by vl-convert here too)."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from tests.integration.conftest import wait_until
from tests.integration.test_ops_page import NOW, _browser, _chromium, _render, _seed, ago, serve
from workers.charts import javascript_bundle
from workers.ops_panels.chart import ASSET_PATH

pytestmark = pytest.mark.integration
__all__ = ["serve"]  # the fixture, used by name

SURGE_BLUE, WARN_ORANGE, CRIT_RED = (0x5B, 0x8F, 0xD0), (0xF0, 0xA5, 0x00), (0xB3, 0x26, 0x1E)
AT_RISK_LIGHT = (0x9C, 0xC3, 0xE6)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("bundle") / "vega.js"
    path.write_text(javascript_bundle(), encoding="utf-8")
    yield path


def _seed_history(dsn: str) -> None:
    """Three hours of windows: 温州 ramps into a surge (baseline 10: warning 30, critical 60),
    杭州 stays calm (baseline 4: the floors, 20 and 40); six hours of minute samples."""
    with psycopg.connect(dsn) as conn:
        start = NOW.replace(minute=NOW.minute - NOW.minute % 10) - timedelta(hours=3)
        for n in range(19):
            w = start + timedelta(minutes=10 * n)
            conn.execute("INSERT INTO surge_windows VALUES ('city', '浙江省|温州市', %s, %s),"
                         " ('city', '浙江省|杭州市', %s, %s)", (w, 3 + 3 * max(0, n - 12) ** 2, w, 4 + n % 3))
        conn.execute("INSERT INTO surge_state (scope_type, scope_key, baseline, level) VALUES"
                     " ('city', '浙江省|温州市', 10, 'critical'), ('city', '浙江省|杭州市', 4, NULL)")
        for m in range(0, 360, 2):
            conn.execute("INSERT INTO ops_samples VALUES (%s, 'queue_depth', %s),"
                         " (%s, 'open_escalations', %s)", (ago(minutes=m), 3 + (360 - m) // 30,
                                                           ago(minutes=m), m % 7))


def _chart_blocks(dom: str) -> dict[str, str]:
    """Each chart's rendered markup: from its div to the spec script that follows it."""
    out = {}
    for m in re.finditer(r'<div class="chart[^"]*" data-chart="(\w+)"', dom):
        name = m.group(1)
        out[name] = dom[m.start():dom.index(f'id="spec-{name}"', m.start())]
    return out


def _pixels_near(img: Image.Image, rgb: tuple[int, int, int], tol: int = 6) -> int:
    colors = img.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(n for n, c in colors if all(abs(a - b) <= tol for a, b in zip(c, rgb, strict=True)))


def test_ops_page_charts_render_in_chromium(dsn: str, serve: tuple[Path, str], bundle: Path,
                                            tmp_path: Path) -> None:
    chromium = _chromium()
    _seed(dsn)
    _seed_history(dsn)
    html = asyncio.run(_render(dsn))
    root, base = serve
    (root / "index.html").write_text(html, encoding="utf-8")
    (root / ASSET_PATH.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / ASSET_PATH.lstrip("/")).write_bytes(bundle.read_bytes())
    url = f"{base}/index.html"
    budget = "--virtual-time-budget=5000"  # lets vega-embed settle; under the 10 s refresh

    dom = _browser(chromium, tmp_path / "p1", budget, "--dump-dom", url).stdout
    charts = _chart_blocks(dom)
    assert set(charts) == {"surge", "trends", "at_risk"}
    assert all('data-rendered="1"' in block for block in charts.values())
    surge = charts["surge"]
    assert "温州市 (浙江省) ⚠ critical" in surge and "杭州市 (浙江省)" in surge
    assert surge.index("温州市") < surge.index("杭州市")  # open surge first (not by name)
    rules = re.findall(r'aria-label="Mean of (warning|critical): (\d+)"', surge)
    assert sorted(rules) == [("critical", "40"), ("critical", "60"), ("warning", "20"),
                             ("warning", "30")]  # each city's thresholds, one facet each
    assert len(re.findall(r'role="graphics-symbol"', surge)) >= 19  # a bar per window
    assert "queued dispatches" in charts["trends"] and "<path" in charts["trends"]
    assert "overdue" in charts["at_risk"] and "survey" in charts["at_risk"]

    shot = tmp_path / "ops.png"
    _browser(chromium, tmp_path / "p2", budget, f"--screenshot={shot}", "--window-size=1400,1800",
             "--hide-scrollbars", url)
    img = Image.open(shot)
    assert _pixels_near(img, SURGE_BLUE) > 500  # normal windows' bars
    assert _pixels_near(img, CRIT_RED) > 300  # the surge's bars and its critical rules
    assert _pixels_near(img, WARN_ORANGE) > 100  # warning bars, rules and badges
    assert _pixels_near(img, AT_RISK_LIGHT) > 50  # survey clock due in 1-4 h... or later


def test_the_worker_serves_the_page_its_bundle_and_samples_history(
        dsn: str, start_worker: Callable[..., Any]) -> None:
    """A real worker: /assets/vega.js is built off the event loop and served with a long cache
    life; the monitor records minute samples, so the page carries the trend chart."""
    worker = start_worker()
    base = f"http://127.0.0.1:{worker.port}"

    def get(path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except (urllib.error.URLError, ConnectionError):
            return 0, {}, b""

    wait_until(lambda: get("/healthz")[0] == 200, timeout=120, what="worker healthy")
    wait_until(lambda: _samples(dsn) >= 3, timeout=60,
               what="the monitor's first samples")
    status, headers, body = get(ASSET_PATH)
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "max-age=86400" in headers["Cache-Control"]
    assert b"window.vegaEmbed" in body and len(body) > 100_000
    status, _, page = get("/")
    html = page.decode()
    assert status == 200 and f'src="{ASSET_PATH}"' in html
    assert 'data-chart="trends"' in html and 'id="spec-trends"' in html


def _samples(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM ops_samples").fetchone()
        return int(row[0]) if row else 0
