"""Declared catastrophes (SPEC §4.5 v2, §4.3): coverage, effective cat_code in any consumption
order, catastrophe mode at the initial decision, late declarations, the catastrophe alert."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from schemas import alert_id
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from workers.monitor.loop import check_once
from workers.ops_page import render_ops_page

pytestmark = pytest.mark.integration
WZ = {"city": "温州市", "province": "浙江省"}


def declared(cat_code: str, areas: list[tuple[str, str | None]], *, frm: float,
             to: float | None = None, at: float, name: str = "台风“杜苏芮”",
             peril: str = "typhoon") -> dict[str, Any]:
    """A catastrophe.declared event; times in minutes after builders.T0."""
    ev = copy.deepcopy(json.loads((b.contract_dir() / "catastrophe.declared.json").read_text(
        encoding="utf-8")))
    ev["id"] = str(uuid.uuid4())
    ev["subject"] = cat_code
    ev["data"] = {"cat_code": cat_code, "name": name, "peril": peril,
                  "areas": [{"province": p, "city": c} for p, c in areas],
                  "occurred_from": b.ts(frm), "occurred_to": None if to is None else b.ts(to),
                  "declared_at": b.ts(at)}
    return ev


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _alert_events(dsn: str) -> list[dict[str, Any]]:
    values = [json.loads(bytes(r[0])) for r in
              _rows(dsn, "SELECT value FROM outbox WHERE topic = 'alerts' ORDER BY seq")]
    return [e for e in values if e["data"]["kind"] == "catastrophe"]


async def _pool(dsn: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    return pool


TY = declared("TY-2026-21", [("浙江省", "温州市"), ("福建省", None)], frm=-120, at=-60)
TY_NARROWER = declared("TY-2026-21", [("浙江省", "温州市"), ("福建省", "厦门市")], frm=-120,
                       at=-30)
FL = declared("FL-2026-03", [("浙江省", "温州市")], frm=-180, at=-50, name="瓯江洪水",
              peril="flood")
CASES = [
    b.case("C-WZ", **WZ, at=0),  # TY and FL cover it: FL (earlier occurred_from)
    b.case("C-FZ", city="福州市", province="福建省", at=0),  # TY v1 only: lost with v2
    b.case("C-XM", city="厦门市", province="福建省", at=0),  # TY, both versions
    b.case("C-OWN", **WZ, at=0, cat_code="INS-9"),  # the insurer's code stays
    b.case("C-OLD", **WZ, at=-300),  # occurred before both periods
    b.case("C-HZ", city="杭州市", province="浙江省", at=0),  # 浙江省 but not the city
    b.case("C-DEC", **WZ, at=0, amount="15000.00"),
]
EXPECTED_CODES = {"C-WZ": "FL-2026-03", "C-FZ": None, "C-XM": "TY-2026-21", "C-OWN": "INS-9",
                  "C-OLD": None, "C-HZ": None, "C-DEC": "FL-2026-03"}
INITIAL = b.review("R-DEC", "C-DEC", "initial", "approved", at=30, amount="15000.00")


@pytest.mark.parametrize("order", ["declarations_first", "cases_first", "interleaved"])
def test_the_effective_cat_code_is_the_same_whatever_the_order(dsn: str, order: str) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(minutes=40)))
        pool = await _pool(dsn)
        decls = [TY, FL, TY_NARROWER]
        try:
            if order == "declarations_first":
                await apply(pool, "catastrophe-declared", decls, ctx)
                await apply(pool, "case-reported", CASES, ctx)
                await apply(pool, "review-completed", [INITIAL], ctx)
            elif order == "cases_first":
                await apply(pool, "case-reported", CASES, ctx)
                await apply(pool, "review-completed", [INITIAL], ctx)
                for d in reversed(decls):  # the newest version first, too
                    await apply(pool, "catastrophe-declared", [d], ctx)
            else:
                await apply(pool, "catastrophe-declared", [TY_NARROWER], ctx)
                await apply(pool, "case-reported", CASES[:3], ctx)
                await apply(pool, "catastrophe-declared", [FL], ctx)
                await apply(pool, "case-reported", CASES[3:], ctx)
                await apply(pool, "catastrophe-declared", [TY], ctx)
                await apply(pool, "review-completed", [INITIAL], ctx)
            # a redelivery and an equal (cat_code, declared_at) with other data: duplicates
            again = dict(copy.deepcopy(FL), id=str(uuid.uuid4()))
            again["data"]["name"] = "another name"
            assert await apply(pool, "catastrophe-declared", [FL, again], ctx) == [
                "duplicate", "duplicate"]
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert dict(_rows(dsn, "SELECT case_id, cat_code FROM rm_cases")) == EXPECTED_CODES
    assert _rows(dsn, "SELECT cat_code, declared_at = %s::timestamptz, covered_cases, versions"
                      " FROM rm_catastrophes ORDER BY 1", TY_NARROWER["data"]["declared_at"]) == [
        ("FL-2026-03", False, 2, 1), ("TY-2026-21", True, 1, 2)]
    assert _rows(dsn, "SELECT count(*) FROM rm_data_quality WHERE kind = 'conflicting_duplicate'"
                      " AND subject_id = 'FL-2026-03'") == [(1,)]
    late = _rows(dsn, "SELECT subject_id FROM rm_data_quality WHERE kind = 'late_declaration'")
    status = _rows(dsn, "SELECT status, cat_mode FROM rm_cases WHERE case_id = 'C-DEC'")
    if order == "cases_first":
        # the initial decision was applied before any declaration: it stays (standard path,
        # second review) and the late declarations are recorded (FL and TY v1 were in force)
        assert status == [("second_review", False)]
        assert sorted(late) == [("C-DEC",), ("C-DEC",)]
        assert _rows(dsn, "SELECT count(*) FROM rm_payouts") == [(0,)]
    else:
        assert status == [("approved", True)]
        assert late == []
        assert _rows(dsn, "SELECT case_id, approval_path, cat_code FROM rm_payouts") == [
            ("C-DEC", "fast_track", "FL-2026-03")]


def test_a_declared_catastrophe_makes_a_15000_initial_approval_a_fast_track_payout(
    dsn: str,
) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(minutes=40)))
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [
                b.case("C-1", **WZ, at=0, amount="15000.00"),
                b.case("C-2", **WZ, at=0, amount="15000.00")], ctx)
            await apply(pool, "review-completed", [
                b.review("R-0", "C-2", "initial", "approved", at=5, amount="15000.00")], ctx)
            await apply(pool, "catastrophe-declared", [
                declared("TY-1", [("浙江省", "温州市")], frm=-60, at=10)], ctx)
            await apply(pool, "review-completed", [
                b.review("R-1", "C-1", "initial", "approved", at=20, amount="15000.00")], ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    out = [json.loads(bytes(r[0]))["data"] for r in
           _rows(dsn, "SELECT value FROM outbox WHERE topic = 'payout-approved'")]
    assert [(p["case_id"], p["approval_path"], p["amount"], p["cat_code"]) for p in out] == [
        ("C-1", "fast_track", "15000.00", "TY-1")]
    # C-2 was decided before the declaration was in force (declared_at after completed_at):
    # not a late declaration, nothing to record
    assert _rows(dsn, "SELECT count(*) FROM rm_data_quality WHERE kind = 'late_declaration'"
                 ) == [(0,)]
    page = asyncio.run(_ops_page(dsn))
    assert "Declared catastrophes (1)" in page and "TY-1" in page and "浙江省/温州市" in page


async def _ops_page(dsn: str) -> str:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False,
                               kwargs={"autocommit": False})
    await pool.open()
    try:
        runtime = SimpleNamespace(pool=pool, context=SimpleNamespace(
            clock=lambda: b.T0 + timedelta(hours=1)))
        return await render_ops_page(cast(Any, runtime))
    finally:
        await pool.close()


def test_the_catastrophe_alert_opens_is_resent_per_version_and_resolves_72_h_after(
    dsn: str,
) -> None:
    first = declared("TY-9", [("浙江省", "温州市")], frm=-60, at=0)
    second = declared("TY-9", [("浙江省", None)], frm=-60, to=600, at=120)

    async def scenario() -> None:
        clock = FakeClock(b.T0 + timedelta(minutes=5))
        ctx = context(clock)
        pool = await _pool(dsn)
        try:
            await apply(pool, "case-reported", [b.case("C-1", **WZ, at=0)], ctx)
            await apply(pool, "catastrophe-declared", [first], ctx)
            await apply(pool, "catastrophe-declared", [second], ctx)
            clock.now = b.T0 + timedelta(minutes=600 + 72 * 60)  # exactly occurred_to + 72 h
            await check_once(pool, clock.now, ctx, timedelta(seconds=30), force=True)
            assert [e["type"] for e in _alert_events(dsn)] == ["alert.opened"] * 2
            clock.now += timedelta(seconds=1)
            await check_once(pool, clock.now, ctx, timedelta(seconds=30), force=True)
        finally:
            await pool.close()

    asyncio.run(scenario())
    events = _alert_events(dsn)
    assert [(e["type"], e["data"]["severity"]) for e in events] == [
        ("alert.opened", "critical"), ("alert.opened", "critical"), ("alert.resolved", "critical")]
    assert len({e["data"]["alert_id"] for e in events}) == 1
    assert len({e["id"] for e in events}) == 3  # a new version is a new event, same alert
    assert {e["data"]["scope"]["cat_code"] for e in events} == {"TY-9"}
    assert events[0]["data"]["opened_at"] == first["data"]["declared_at"]  # 08:00 +08:00
    assert events[0]["data"]["alert_id"] == alert_id("catastrophe", {"cat_code": "TY-9"},
                                                     first["data"]["declared_at"])
    assert datetime.fromisoformat(events[2]["data"]["resolved_at"]) == \
        datetime.fromisoformat(b.ts(600 + 72 * 60))
    assert "浙江省" in events[1]["data"]["summary"]
