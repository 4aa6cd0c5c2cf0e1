"""Weekly and monthly reports against an independent tally of simulated traffic.

A seeded simulator run (with re-sent duplicates) goes through the real handlers into
Postgres; the report is read back through the public views, and every figure checked here
is recounted straight from the simulated events (data times in Asia/Shanghai days, the SPEC's
survey windows). The HTML form is opened in headless Chromium: five charts drawn (SVG marks
in the DOM, their colours in the screenshot) and CJK text present.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from psycopg_pool import AsyncConnectionPool

from infra.db import unit_of_work
from tests.integration.inproc import FakeClock, apply, context
from tests.integration.test_ops_page import _browser, _chromium
from tests.integration.test_ops_page_charts import _pixels_near
from tests.integration.test_roles import dsn_as, login_role
from workers.reports.data import ReportData, fetch_report
from workers.reports.period import Period, parse_month, parse_week
from workers.roster import read_roster_file, replace_roster
from workers.sim.model import SimRun
from workers.simulate import generate, write_roster_csv

pytestmark = pytest.mark.integration
__all__ = ["login_role"]  # the fixture, used by name

CST = timezone(timedelta(hours=8))
START = datetime(2026, 10, 24, 20, 0, tzinfo=CST)  # spans the end of October into November
SURVEY_WINDOW = {"urgent": timedelta(hours=4), "normal": timedelta(hours=24)}


async def _apply_run(dsn: str, run: SimRun, roster: Path) -> None:
    last = max(e.data_time for e in run.events)
    ctx = context(FakeClock(last + timedelta(days=1)))  # every surge window long closed
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    try:
        async with unit_of_work(pool) as uow:
            await replace_roster(uow.conn, read_roster_file(roster), ctx)
            await uow.commit()
        batch: list[dict[str, Any]] = []
        topic = ""
        for ev in [*run.events, None]:  # consecutive same-topic events as one batch
            if ev is None or ev.topic != topic or len(batch) == 100:
                if batch:
                    await apply(pool, topic, batch, ctx)
                batch = []
            if ev is not None:
                topic = ev.topic
                batch.append(json.loads(ev.value))
    finally:
        await pool.close()


KEYS = {"case-reported": "case_id", "dispatch-requested": "dispatch_id",
        "review-completed": "review_id", "complaint-filed": "complaint_id",
        "case-withdrawn": "case_id", "payment-settled": "settlement_id"}


def _first_of_each(run: SimRun) -> list[tuple[str, dict[str, Any]]]:
    """(topic, data) of each business key's first event, in publishing order."""
    seen: set[tuple[str, str]] = set()
    out = []
    for ev in run.events:
        data = json.loads(ev.value)["data"]
        key = (ev.topic, str(data.get(KEYS.get(ev.topic, ""), ev.event_id)))
        if key not in seen:
            seen.add(key)
            out.append((ev.topic, data))
    return out


def _tally(run: SimRun, period: Period) -> dict[str, Any]:
    """Recount from the events alone: first of each business key wins, data time decides.

    A survey clock stops at its dispatch's survey, or at the case's withdrawal (SPEC §4.9)
    if that comes first; a dispatch requested after the withdrawal starts none."""
    intake: Counter[tuple[str, str]] = Counter()
    categories: Counter[str] = Counter()
    surveyed = 0
    requested: dict[str, tuple[datetime, str, str]] = {}  # dispatch → (at, urgency, case)
    surveys: dict[str, datetime] = {}
    withdrawn: dict[str, datetime] = {}

    def at(ts: str) -> datetime:
        return datetime.fromisoformat(ts)

    def inside(t: datetime) -> bool:
        return period.start_at <= t < period.end_at

    for topic, data in _first_of_each(run):
        if topic == "case-reported" and inside(at(data["reported_at"])):
            day = at(data["reported_at"]).astimezone(CST).date().isoformat()
            intake[(day, data["line"])] += 1
        elif topic == "complaint-filed" and inside(at(data["filed_at"])):
            categories[data["category"]] += 1
        elif topic == "dispatch-requested":
            requested[data["dispatch_id"]] = (at(data["requested_at"]), data["urgency"],
                                              data["case_id"])
        elif topic == "case-withdrawn":
            withdrawn[data["case_id"]] = at(data["withdrawn_at"])
        elif topic == "review-completed" and data["stage"] == "survey":
            surveyed += data["decision"] == "completed" and inside(at(data["completed_at"]))
            surveys.setdefault(data["dispatch_id"], at(data["completed_at"]))
    stops: Counter[str] = Counter()
    for dispatch_id, (started, urgency, case_id) in requested.items():
        ends = [t for t in (surveys.get(dispatch_id), withdrawn.get(case_id)) if t is not None]
        if case_id in withdrawn and withdrawn[case_id] < started or not ends:
            continue  # no clock, or still running
        if inside(min(ends)):
            stops["stopped"] += 1
            stops["on_time"] += min(ends) - started <= SURVEY_WINDOW[urgency]
    return {"intake": intake, "categories": categories, "surveyed": surveyed,
            "survey_stops": stops, "callbacks": _callback_tally(run, period, withdrawn)}


def _callback_tally(run: SimRun, period: Period,
                    withdrawn: dict[str, datetime]) -> dict[str, tuple[int, int, int]]:
    """Per Shanghai day of the result: (reached, satisfaction sum, dissatisfied). The result
    is the lowest attempt reached or refused (SPEC §4.10); a withdrawal cancels the case
    callbacks of its case that have no result by then — complaint callbacks go on (§4.9)."""
    attempts: dict[str, list[dict[str, Any]]] = {}
    for topic, data in _first_of_each(run):
        if topic == "callback-completed":
            attempts.setdefault(data["callback_id"], []).append(data)
    out: dict[str, tuple[int, int, int]] = {}
    for tries in attempts.values():
        done = sorted((a for a in tries if a["outcome"] in ("reached", "refused")),
                      key=lambda a: a["attempt"])
        if not done or done[0]["outcome"] != "reached":
            continue
        result = done[0]
        at = datetime.fromisoformat(result["completed_at"])
        cancelled = None if result.get("complaint_id") else withdrawn.get(result.get("case_id", ""))
        if cancelled is not None and cancelled <= at or not (
                period.start_at <= at < period.end_at):
            continue
        day = at.astimezone(CST).date().isoformat()
        n, total, bad = out.get(day, (0, 0, 0))
        out[day] = (n + 1, total + result["satisfaction"], bad + (result["satisfaction"] <= 2))
    return out


@pytest.fixture(scope="module")
def sim_run() -> SimRun:
    return generate(400, seed=14, start=START, spread=timedelta(days=12), dup_fraction=0.05)


def _load(dsn: str, run: SimRun, tmp_path: Path) -> None:
    roster = write_roster_csv(tmp_path / "roster.csv", run.roster)
    asyncio.run(_apply_run(dsn, run, roster))


def test_report_figures_match_an_independent_tally(dsn: str, sim_run: SimRun,
                                                   tmp_path: Path) -> None:
    _load(dsn, sim_run, tmp_path)
    for period in (parse_month("2026-10"), parse_month("2026-11"), parse_week("2026-W44")):
        _check(fetch_report(dsn, period), _tally(sim_run, period))


def _check(got: ReportData, want: dict[str, Any]) -> None:
    period = got.period
    assert sum(want["intake"].values()) > 0
    intake = Counter({(day.isoformat(), line): v["reported"]
                      for (day, line), v in got.daily.items() if v["reported"]})
    assert intake == want["intake"]
    assert got.totals()["surveyed"] == want["surveyed"]
    assert {c.category: c.filed for c in got.complaints if c.filed} == dict(want["categories"])
    survey = next(c for c in got.clocks if c.clock == "survey")
    assert (survey.stopped, survey.on_time) == (want["survey_stops"]["stopped"],
                                                want["survey_stops"]["on_time"])
    assert survey.on_time < survey.stopped or period.kind == "week"  # some late ones exist
    got_callbacks = {c.day.isoformat(): (c.reached, round(c.satisfaction_avg * c.reached),
                                         c.dissatisfied)
                     for c in got.callbacks or [] if c.reached}
    assert got_callbacks == want["callbacks"]
    assert got_callbacks or period.kind == "week"  # the simulated desk answered in each month
    if period.kind == "month":  # surveys of dispatches with an adjuster, in the same month
        assert 0 < sum(r.surveys_completed for r in got.scorecard) <= want["surveyed"]


def test_html_report_opens_offline_in_chromium_with_its_charts(
        dsn: str, sim_run: SimRun, tmp_path: Path) -> None:
    chromium = _chromium()
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    assert fonts.stdout.strip(), "no CJK font: Chinese would render as boxes (fonts-noto-cjk)"
    _load(dsn, sim_run, tmp_path)
    out = tmp_path / "monthly.html"
    env = {"DATABASE_URL": dsn, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "workers.cli", "report", "monthly", "--month",
                           "2026-11", "--format", "html", "-o", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bad = subprocess.run([sys.executable, "-m", "workers.cli", "report", "weekly", "--week",
                          "2026-W60"], capture_output=True, text=True, timeout=120, env=env,
                         check=False)
    assert bad.returncode == 2 and "2026 has weeks W01 to W53" in bad.stderr
    assert "Traceback" not in bad.stderr

    url = out.as_uri()  # a file: no server, no network
    dom = _browser(chromium, tmp_path / "p1", "--dump-dom", url).stdout
    for name in ("intake", "ontime", "callbacks", "complaints", "scorecard"):
        block = dom.split(f'data-chart="{name}"', 1)
        if name == "callbacks" and len(block) == 1:
            continue  # no callback results in the simulated traffic: said in words instead
        assert len(block) == 2, f"chart {name} missing"
        assert 'role="graphics-symbol"' in block[1].split("</svg>", 1)[0], f"chart {name} empty"
    assert "月报 Monthly report 2026-11" in dom and "考核" in dom
    shot = tmp_path / "report.png"
    _browser(chromium, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1200,3000",
             "--hide-scrollbars", url)
    img = Image.open(shot)
    assert _pixels_near(img, (0x2F, 0x6F, 0xB3)) > 300  # on-time bars
    assert _pixels_near(img, (0xB3, 0x26, 0x1E)) > 300  # upheld complaints / scorecard bars
    assert _pixels_near(img, (0x4C, 0x78, 0xA8)) > 300  # intake bars (first line's colour)


def test_the_dashboards_reader_role_can_run_the_reports(dsn: str,
                                                       login_role: Callable[..., str]) -> None:
    """Reports read only public views: a login in claimdesk_reader (no base table, no vault)
    gets the whole monthly report, callbacks and scorecard included."""
    reader = login_role("claimdesk_reader")
    data = fetch_report(dsn_as(dsn, reader), parse_month("2026-11"))
    assert data.callbacks == [] and data.scorecard == [] and len(data.clocks) >= 9
    with pytest.raises(psycopg.errors.InsufficientPrivilege), \
            psycopg.connect(dsn_as(dsn, reader)) as conn:
        conn.execute("SELECT count(*) FROM cases")  # the base table stays closed to it
