"""v2 traffic of a planned case: payment settlements (结案) and withdrawals (撤案).

Drawn from a random stream derived from the case id, so adding v2 traffic does not change
the v1 events of a seeded run. Its own model of SPEC §4.8/§4.9 (it imports nothing of the
workers' rules), so the simulated-run test compares two implementations:

- an approved payout is mostly paid within days; some fail first (wrong account, name
  mismatch, bank rejection) and are paid after a correction; a few are paid and returned
  by the bank (half of them paid again); a few get no settlement (the case stays
  ``approved``);
- payouts whose approving review a surge could change (catastrophe-mode fast track, so
  another ``payout_id``) are not settled (:func:`unsettle`, applied by the batch generator);
- a few cases are withdrawn before any decision: their review chain stops there (no
  decision is published, so there is no withdrawal/decision race), complaints go on.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from workers.sim import callbacks as cb
from workers.sim import people as p
from workers.sim.model import CasePlan, Step

WITHDRAW_RATE = 0.03
_DECISION_STAGES = ("initial", "second", "joint")
_FAILURES = {"account_invalid": 40, "name_mismatch": 35, "bank_rejected": 25}


def _rng(plan: CasePlan) -> random.Random:
    return random.Random(f"v2:{plan.case_id}")


def _step(rng: random.Random, plan: CasePlan, offset: timedelta, topic: str, source: str,
          body: dict[str, Any], time_field: str) -> None:
    plan.steps.append(Step(offset, topic, plan.case_id, source, body, time_field,
                           p.event_id(rng), timedelta(seconds=rng.randint(0, 30))))


def add_v2_traffic(plan: CasePlan) -> None:
    """Withdraw the case before its decision, or settle its payout (in place)."""
    rng = _rng(plan)
    decisions = [s for s in plan.steps if s.topic == "review-completed"
                 and s.data.get("stage") in _DECISION_STAGES]
    if decisions and rng.random() < WITHDRAW_RATE:
        _withdraw(rng, plan, decisions)
    elif plan.status == "approved" and plan.payout and plan.payout_review_id:
        _settle(rng, plan, max(s.offset for s in decisions))


def unsettle(plan: CasePlan) -> None:
    """Drop the settlements of a case a surge may fast-track (catastrophe mode): its payout
    would come from another review, with another ``payout_id``, which the simulator cannot
    know; the case then stays ``approved``."""
    if any(s.topic == "payment-settled" for s in plan.steps):
        closing = cb.callback_uuid("closing", plan.case_id)  # 结案回访: never requested now
        plan.steps = [s for s in plan.steps if s.topic != "payment-settled" and not (
            s.topic == "callback-completed" and s.data.get("callback_id") == closing)]
        plan.status = "approved"


def _withdraw(rng: random.Random, plan: CasePlan, decisions: list[Step]) -> None:
    first = min(s.offset for s in decisions)
    before = [s.offset for s in plan.steps if s.offset < first
              and s.topic in ("case-reported", "dispatch-requested", "review-completed")
              and s.data.get("stage") not in ("complaint",)]
    at = max(max(before) + timedelta(minutes=1), first - p.minutes(rng, 5, 120))
    plan.steps = [s for s in plan.steps if s not in decisions]
    body = {"case_id": plan.case_id,
            "reason_code": p.pick(rng, {"insured_request": 60, "no_loss": 15,
                                        "duplicate_report": 15, "insurer_instruction": 10}),
            "requested_by": f"CS-{rng.randint(1, 40):04d}"}
    _step(rng, plan, at, "case-withdrawn", f"insurer/{plan.insurer}/claims-hub", body,
          "withdrawn_at")
    plan.status, plan.payout, plan.approval_path = "withdrawn", None, None
    plan.payout_review_id, plan.cat_delta, plan.initial_at = None, False, None


def _settle(rng: random.Random, plan: CasePlan, approved: timedelta) -> None:
    pid = str(uuid.uuid5(uuid.NAMESPACE_URL,
                         f"claimdesk:payout:{plan.case_id}:{plan.payout_review_id}"))
    amount = Decimal(plan.payout or 0)
    r = rng.random()
    if r < 0.04:  # no settlement seen (yet): stays approved
        return
    t = approved + p.minutes(rng, 12 * 60, 5 * 24 * 60)
    outcomes: list[tuple[str, str | None]]
    if r < 0.12:
        outcomes = [("failed", p.pick(rng, _FAILURES)), ("paid", None)]
    elif r < 0.16:
        outcomes = [("paid", None), ("failed", "returned")]
        if rng.random() < 0.5:
            outcomes.append(("paid", None))
    else:
        outcomes = [("paid", None)]
    for n, (status, code) in enumerate(outcomes, 1):
        body: dict[str, Any] = {"settlement_id": f"S-{plan.case_id}-{n}", "payout_id": pid,
                                "case_id": plan.case_id, "status": status,
                                "amount": f"{amount:.2f}"}
        if code:
            body["failure_code"] = code
        else:
            body["bank_ref"] = f"BANK-{rng.randint(10**9, 10**10 - 1)}"
        _step(rng, plan, t, "payment-settled", f"payment/{plan.insurer}/settlement", body,
              "settled_at")
        t += p.minutes(rng, 12 * 60, 3 * 24 * 60)
    plan.status = "closed" if outcomes[-1][0] == "paid" else "approved"
