"""The whole ``claimdesk up`` path, shortened: history first, then live traffic with one demo
burst — the only surge alert is the demo city's, and it resolves after the burst (SPEC §9)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import wait_until
from tests.integration.test_ops_page import Sections, _browser, _chromium

pytestmark = pytest.mark.integration

# 30 s windows so the test takes minutes, not hours; warm-up shortened to match the history.
# A 20 s grace: on a loaded machine the worker may lag the burst by seconds, and a window
# already closed when its reports are applied only updates statistics (SPEC §4.5).
# resolve_factor 3: the demo city (≈ 2.5 cases a window) calms down within ~3 windows.
POLICY = """
[defaults.surge]
window = "30s"
grace = "20s"
warmup = "2m"
resolve_factor = "3"

[defaults.backlog]
check_interval = "2s"
"""


def _surges(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(
            "SELECT scope, severity, resolved_at IS NOT NULL FROM rm_alerts"
            " WHERE kind = 'surge' ORDER BY opened_at").fetchall())


def test_up_raises_exactly_the_demo_surge_and_it_resolves(
    worker_env: dict[str, str], dsn: str, tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    env = dict(worker_env, CLAIMDESK_POLICY_FILE=str(policy))
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "up", "--rate", "3", "--surge", "温州市",
         "--history", "5m", "--bursts", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    def alive(value: Any) -> Any:
        assert proc.poll() is None, "claimdesk up exited; see up.log"
        return value

    try:
        wait_until(lambda: alive(_count(dsn, "SELECT count(*) FROM surge_hold"
                                             " WHERE released_at IS NOT NULL") == 1),
                   timeout=240, what="the history hold released")
        assert _count(dsn, "SELECT count(*) FROM rm_alerts WHERE kind = 'surge'") == 0
        wait_until(lambda: alive(_surges(dsn)), timeout=300, what="the demo surge")
        _ops_page_shows_only_the_demo_surge(int(env["CLAIMDESK_METRICS_PORT"]), tmp_path)
        wait_until(lambda: alive(all(r[2] for r in _surges(dsn))), timeout=300,
                   what="the demo surge resolved")
        surges = _surges(dsn)
        assert [r[0] for r in surges] == [{"province": "浙江省", "city": "温州市"}]
        assert _count(dsn, "SELECT count(*) FROM inbox WHERE topic = 'case-reported'") > 900
    except AssertionError:
        # the test's tmp dir rotates away quickly on a shared machine: keep the log visible
        print((tmp_path / "up.log").read_text(errors="replace")[-20000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "surge judging starts" in (tmp_path / "up.log").read_text(errors="replace")


def _ops_page_shows_only_the_demo_surge(port: int, tmp_path: Path) -> None:
    """The live ops page of ``up``: its surge banner lists exactly the demo city; a Chromium
    screenshot of it is kept next to the test's logs (``ops-page.png``)."""
    url = f"http://127.0.0.1:{port}/"
    html = wait_until(lambda: _get(url), timeout=30, what="the ops page")
    page = Sections()
    page.feed(html)
    banner = page.find("Surges")
    scopes = [row[1] for row in banner["rows"] if len(row) > 1 and row[0] != "severity"]
    assert scopes == ["province=浙江省, city=温州市"]
    shot = tmp_path / "ops-page.png"
    _browser(_chromium(), tmp_path / "chromium", "--window-size=1280,1800",
             f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode("utf-8"))
    except OSError:
        return None


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0
