"""Panel: payouts (赔付支付, SPEC §4.8) — not paid, failed, and payments due soon.

Read from ``rm_payouts`` only. "Due soon": approved and not paid, ``pay_by`` (approval + 10
days, Insurance Law art. 23) within 48 hours or already passed.
"""

from __future__ import annotations

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import e, fmt_time, kpi, kpis, section, table

MAX_ROWS = 20
# every count is of unpaid payouts: filtering in WHERE lets the partial index payouts_unpaid
# (0053) read only those instead of a year of paid ones
Q_COUNTS = """SELECT count(*), count(*) FILTER (WHERE status = 'failed'),
 count(*) FILTER (WHERE pay_by <= %s + interval '48 hours'), count(*) FILTER (WHERE pay_by < %s)
FROM rm_payouts WHERE status <> 'paid'"""
Q_SOON = """SELECT case_id, insurer, amount, status, failure_code, pay_by FROM rm_payouts
WHERE status <> 'paid' AND pay_by <= %s + interval '48 hours'
ORDER BY pay_by, case_id LIMIT %s"""


async def fetch_payments(db: Reader, t: PageTime) -> tuple[Row, list[Row]]:
    return (await db.row(Q_COUNTS, t.now, t.now), await db.rows(Q_SOON, t.now, MAX_ROWS))


def render_payments(data: tuple[Row, list[Row]], t: PageTime) -> str:
    (unpaid, failed, soon, overdue), rows = data
    boxes = kpis(kpi("unpaid payouts", unpaid), kpi("failed", failed, bad=bool(failed)),
                 kpi("due within 48 h", soon), kpi("past pay_by", overdue, bad=bool(overdue)))
    body = table(["case", "insurer", "status", "failure", "pay by", "amount"],
                 [[e(c), e(i), e(s), e(code or ""), e(fmt_time(by)), e(f"{a:.2f}")]
                  for c, i, a, s, code, by in rows], 5, "No payment due within 48 h.")
    return section("赔付支付 Payouts: unpaid, failed, due soon", boxes + body)


PANELS = [Panel("payments", 40, fetch_payments, render_payments)]
