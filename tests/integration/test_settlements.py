"""Payment settlement and case closure (SPEC §4.8, 结案) through the real handlers."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from schemas import payout_id
from tests.conftest import contract_dir
from tests.integration import builders as b
from tests.integration.inproc import FakeClock, apply, context
from topics import TopicNames
from workers.context import HandlerContext
from workers.monitor.loop import check_once
from workers.ops_page import fetch_page, page_time, render_html
from workers.ops_panels.payments import PANELS
from workers.rules.policy import parse_policy_toml

pytestmark = pytest.mark.integration
DAY = 24 * 60


def settlement(sid: str, case_id: str, status: str, *, at: float, amount: str = "3200.00",
               code: str | None = None) -> dict[str, Any]:
    """A payment.settled event for the payout of ``review_id`` (``at`` in minutes)."""
    ev = json.loads((contract_dir() / "payment.settled.json").read_text(encoding="utf-8"))
    ev["id"] = str(uuid.uuid4())
    ev["subject"] = case_id
    data = copy.deepcopy(ev["data"])
    data.update(settlement_id=sid, payout_id=payout_id(case_id, "R-A" + case_id), case_id=case_id,
                status=status, amount=amount, settled_at=b.ts(at))
    data.pop("failure_code", None)
    if status == "failed":
        data["failure_code"] = code or "returned"
    ev["data"] = data
    return ev


def _approved(case_id: str) -> list[dict[str, Any]]:
    return [b.review("R-S" + case_id, case_id, "survey", "completed", at=60, amount="3200.00",
                     dispatch_id="D-" + case_id),
            b.review("R-A" + case_id, case_id, "initial", "approved", at=120, amount="3200.00")]


def _one(dsn: str, sql: str, *args: Any) -> Any:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


async def _run(dsn: str, steps: list[tuple[str, list[dict[str, Any]]]]) -> list[list[str]]:
    ctx = context(FakeClock(b.T0 + timedelta(days=30)))
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    try:
        return [await apply(pool, topic, events, ctx) for topic, events in steps]
    finally:
        await pool.close()


def _state(dsn: str, case_id: str) -> tuple[Any, ...]:
    return (_one(dsn, "SELECT status, closed_at FROM rm_cases WHERE case_id = %s", case_id),
            _one(dsn, "SELECT status, paid_at, failed_at, failure_code FROM rm_payouts"
                      " WHERE case_id = %s", case_id),
            _one(dsn, "SELECT started_at, stopped_at, warned_at, breached_at FROM rm_sla_clocks"
                      " WHERE subject_id = %s AND clock = 'payment'", case_id))


def test_failed_then_paid_closes_a_return_reopens_and_a_repay_closes_again(dsn: str) -> None:
    s = [settlement("S1", "C-1", "failed", at=DAY, code="name_mismatch"),
         settlement("S2", "C-1", "paid", at=2 * DAY),
         settlement("S3", "C-1", "failed", at=3 * DAY),
         settlement("S4", "C-1", "paid", at=4 * DAY)]
    outcomes = asyncio.run(_run(dsn, [
        ("case-reported", [b.case("C-1")]), ("review-completed", _approved("C-1")),
        ("payment-settled", s[:1])]))
    assert outcomes[-1] == ["applied"]
    assert _state(dsn, "C-1")[:2] == ([("approved", None)], [
        ("failed", None, b.T0 + timedelta(days=1), "name_mismatch")])
    asyncio.run(_run(dsn, [("payment-settled", s[1:2])]))
    paid_at = b.T0 + timedelta(days=2)
    assert _state(dsn, "C-1") == ([("closed", paid_at)], [
        ("paid", paid_at, b.T0 + timedelta(days=1), "name_mismatch")],
        [(b.T0 + timedelta(minutes=120), paid_at, None, None)])
    asyncio.run(_run(dsn, [("payment-settled", s[2:3])]))
    assert _state(dsn, "C-1")[0] == [("approved", None)]
    asyncio.run(_run(dsn, [("payment-settled", s[3:] + s[:1])]))  # + a redelivery
    assert _state(dsn, "C-1")[0] == [("closed", b.T0 + timedelta(days=4))]
    # the clock stays stopped at the first paid; one payment_paid notice per payout
    assert _state(dsn, "C-1")[2][0][1] == paid_at
    assert _one(dsn, "SELECT kind, count(*) FROM rm_notices WHERE case_id = 'C-1'"
                     " GROUP BY kind ORDER BY kind") == [("decision", 1), ("payment_paid", 1)]
    escalations = _one(dsn, "SELECT subject_id, cause, level, to_id, resolved_at FROM"
                            " rm_escalations WHERE case_id = 'C-1' ORDER BY subject_id")
    assert escalations == [
        ("S1", "payment_failed", "supervisor", "supervisor:PICC", paid_at),
        ("S3", "payment_failed", "supervisor", "supervisor:PICC", b.T0 + timedelta(days=4))]
    assert _one(dsn, "SELECT count(*) FROM rm_settlements WHERE payout_id = %s",
                payout_id("C-1", "R-AC-1")) == [(4,)]
    assert _one(dsn, "SELECT closed FROM rm_daily_stats WHERE closed > 0") == [(1,)]


def test_settlement_order_does_not_change_the_result(dsn: str) -> None:
    """Same settlements in opposite orders (an earlier paid arriving after a later one)."""
    events = {c: [settlement("S1" + c, c, "paid", at=3 * DAY),
                  settlement("S2" + c, c, "failed", at=2 * DAY),
                  settlement("S3" + c, c, "paid", at=DAY + 1)] for c in ("C-1", "C-2")}
    asyncio.run(_run(dsn, [
        ("case-reported", [b.case("C-1"), b.case("C-2")]),
        ("review-completed", _approved("C-1") + _approved("C-2")),
        ("payment-settled", events["C-1"][:1]), ("payment-settled", events["C-1"][1:2]),
        ("payment-settled", events["C-1"][2:]),
        ("payment-settled", events["C-2"][::-1])]))
    one, two = _state(dsn, "C-1"), _state(dsn, "C-2")
    assert one == two
    assert one[0] == [("closed", b.T0 + timedelta(days=3))]
    assert one[2][0][1] == b.T0 + timedelta(days=1, minutes=1)  # earliest paid


def test_a_settlement_before_its_payout_is_parked_and_a_wrong_amount_refused(
    dsn: str
) -> None:
    outcomes = asyncio.run(_run(dsn, [
        ("payment-settled", [settlement("S1", "C-1", "paid", at=DAY)]),
        ("case-reported", [b.case("C-1"), b.case("C-2")]),
        ("review-completed", _approved("C-1") + _approved("C-2")),
        ("payment-settled", [settlement("S9", "C-2", "paid", at=DAY, amount="3199.99")]),
    ]))
    assert outcomes[0] == ["parked"] and outcomes[-1] == ["refused"]
    assert _state(dsn, "C-1")[0] == [("closed", b.T0 + timedelta(days=1))]
    assert _one(dsn, "SELECT count(*) FROM parked_events") == [(0,)]
    assert _state(dsn, "C-2")[0] == [("approved", None)]
    assert _one(dsn, "SELECT kind, subject_id FROM rm_data_quality") == [
        ("amount_mismatch", "S9")]
    assert _one(dsn, "SELECT outcome FROM rm_case_timeline WHERE case_id = 'C-1'"
                     " AND event_type = 'payment.settled' ORDER BY recorded_at") == [
        ("parked",), ("applied",)]


def test_zero_approval_closes_at_once_and_a_failed_payout_opens_an_alert(dsn: str) -> None:
    async def scenario() -> None:
        ctx = context(FakeClock(b.T0 + timedelta(days=9)))
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await pool.open()
        try:
            await apply(pool, "case-reported", [b.case("C-0"), b.case("C-1")], ctx)
            await apply(pool, "review-completed", [
                b.review("R-Z", "C-0", "initial", "approved", at=30, amount="0.00")]
                + _approved("C-1"), ctx)
            await apply(pool, "payment-settled", [settlement("S1", "C-1", "failed", at=DAY)],
                        ctx)
            await check_once(pool, ctx.clock(), ctx, timedelta(seconds=30), force=True)
            t = page_time(ctx.clock())
            html = render_html(t, await fetch_page(pool, t, PANELS))
        finally:
            await pool.close()
        # the ops page panel: C-1 failed, its pay_by (approval + 10 days) is within 48 h
        assert "赔付支付 Payouts" in html and "<td>C-1</td>" in html and "returned" in html
        assert '<b class="bad">1</b>' in html  # one failed payout

    asyncio.run(scenario())
    assert _state(dsn, "C-0")[0] == [("closed", b.T0 + timedelta(minutes=30))]
    assert _one(dsn, "SELECT count(*) FROM rm_payouts WHERE case_id = 'C-0'") == [(0,)]
    assert _one(dsn, "SELECT kind, scope, resolved_at FROM rm_alerts"
                     " WHERE kind = 'payment_failed'") == [
        ("payment_failed", {"insurer": "PICC"}, None)]


def test_an_insurer_without_a_settlement_feed_gets_no_payment_clock(dsn: str) -> None:
    async def scenario() -> None:
        policy = parse_policy_toml("[insurer.CPIC]\npayment_tracking = false\n")
        ctx = HandlerContext(names=TopicNames(), policy=policy,
                             clock=FakeClock(b.T0 + timedelta(days=30)))
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await pool.open()
        try:
            await apply(pool, "case-reported", [b.case("C-1", insurer="CPIC"),
                                                b.case("C-2")], ctx)
            await apply(pool, "review-completed", _approved("C-1") + _approved("C-2"), ctx)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert _one(dsn, "SELECT subject_id FROM rm_sla_clocks WHERE clock = 'payment'") == [
        ("C-2",)]
    assert _one(dsn, "SELECT status FROM rm_cases ORDER BY case_id") == [
        ("approved",), ("approved",)]
