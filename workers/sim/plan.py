"""Plans one case's lifecycle (SPEC §3, §4.3): its events, their delays and its outcome.

The planner is the simulator's own model of the review chain with the SPEC's
default thresholds (fast track ≤ 5,000.00, ≤ 20,000.00 with a ``cat_code``;
joint from 100,000.00, injuries, disputes or escalation). It never imports the
workers' rules, so integration tests compare two independent implementations.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from workers.sim import callbacks as cb
from workers.sim import data
from workers.sim import people as p
from workers.sim.data import City
from workers.sim.model import CasePlan, Step
from workers.sim.settle import add_v2_traffic

_HOUR = 60.0  # minutes
_DAY = 24 * _HOUR


@dataclass(slots=True)
class _Case:
    """Mutable planning state of one case."""

    plan: CasePlan
    serial: str
    city: City
    district: str
    address: str
    injuries: int
    estimated: Decimal
    names: tuple[str, str]  # (name, phone) of the insured / reporter
    t: timedelta = timedelta(0)
    disputed: bool = False
    adjuster: str | None = None
    initial_reviewer: str | None = None


class Planner:
    """Draws cases and complaints from one seeded ``random.Random``."""

    def __init__(
        self, rng: random.Random, tag: str, adjusters: Mapping[str, Sequence[str]]
    ) -> None:
        self.rng = rng
        self.tag = tag
        self.adjusters = adjusters
        self.cases = 0
        self.complaints = 0
        #: the adjuster customers are clearly less satisfied with (SPEC §4.10 alert)
        self.bad_adjuster = cb.pick_bad_adjuster({k: list(v) for k, v in adjusters.items()})

    # ------------------------------------------------------------------ case.reported

    def case(
        self, reported_at: datetime, city: City | None = None, weather: bool = False
    ) -> CasePlan:
        """Plan a case reported at ``reported_at`` (optionally in ``city``, weather causes)."""
        rng = self.rng
        self.cases += 1
        serial = f"{self.tag}{self.cases:06d}"
        insurer = p.pick(rng, {k: w for k, (w, _) in data.INSURERS.items()})
        line = p.pick(rng, data.LINES)
        city = city or p.pick_city(rng)
        year = reported_at.year
        causes = data.CAUSES[line]
        if weather and any(c in data.WEATHER_CAUSES for c in causes):
            causes = {c: w for c, w in causes.items() if c in data.WEATHER_CAUSES}
        cause = p.pick(rng, causes)
        plan = CasePlan(f"C-{insurer}-{year}-{serial}", insurer, line, city.province, city.name,
                        _cat_code(rng, cause, city, year), reported_at)
        district = rng.choice(city.districts)
        name, phone = p.person_name(rng), p.phone(rng)
        c = _Case(plan, serial, city, district, p.address(rng, city, district),
                  _injuries(rng, line), p.estimated_amount(rng), (name, phone))
        relation = p.pick(rng, {"driver": 50, "insured": 30, "third_party": 10, "agent": 5,
                                "other": 5} if line == "auto" else {"insured": 70, "agent": 15,
                                                                    "other": 15})
        reporter = {"name": name, "phone": phone, "relation": relation}
        if relation not in ("insured", "driver") or rng.random() < 0.2:
            reporter = {"name": p.person_name(rng), "phone": p.phone(rng), "relation": relation}
        incident: dict[str, Any] = {"province": city.province, "city": city.name,
                                    "district": district, "address": c.address, "cause": cause}
        if rng.random() < 0.8:
            incident["description"] = p.description(rng, cause, city)
        body: dict[str, Any] = {
            "case_id": plan.case_id, "insurer": insurer,
            "report_no": p.report_no(insurer, line, city, year, serial),
            "policy_no": p.policy_no(rng, insurer, line, city, year - rng.randint(0, 1)),
            "line": line, "channel": p.pick(rng, data.CHANNELS), "incident": incident,
            "reporter": reporter,
            "insured": {"name": name, "id_number": p.resident_id(rng, city, reported_at.date())},
            "loss": {"estimated_amount": _m(c.estimated), "injuries": c.injuries},
        }
        if plan.cat_code:
            body["cat_code"] = plan.cat_code
        if rng.random() < 0.85:  # 首问负责人: the hotline agent who took the report
            body["received_by"] = f"CS-{rng.randint(1, 40):04d}"
        source = f"insurer/{insurer}/claims-hub"
        lead = p.minutes(rng, 5, 6 * _HOUR if line in ("property", "agriculture") else 90)
        self._step(c, "case-reported", source, body, "reported_at", lead=lead)
        self._chain(c)
        if rng.random() < 0.05:
            self._complaint(c)
        add_v2_traffic(plan)  # settlements, withdrawals (own random stream)
        self._closing_answers(c)
        return plan

    # ---------------------------------------------------------------- the review chain

    def _chain(self, c: _Case) -> None:
        rng, plan = self.rng, c.plan
        base = c.estimated
        if rng.random() < 0.90:
            c.t += p.minutes(rng, 5, 40)
            self._dispatch(c)
            c.t += p.minutes(rng, 1 * _HOUR, 6 * _HOUR)
            assessed = self._survey(c)
            base = assessed or base
            c.t += p.minutes(rng, 1 * _HOUR, 8 * _HOUR)
        else:  # document-only claim: no dispatch, no survey
            c.t += p.minutes(rng, 2 * _HOUR, 24 * _HOUR)
        decision = p.pick(rng, {"approved": 78, "rejected": 7, "documents_requested": 10,
                                "escalated": 5})
        if decision == "documents_requested":
            self._review(c, "initial", 1, "documents_requested")
            c.t += p.minutes(rng, 1 * _DAY, 3 * _DAY)
            decision, n = p.pick(rng, {"approved": 85, "rejected": 15}), 2
        else:
            n = 1
        if decision != "approved":
            self._review(c, "initial", n, decision)
            if decision == "escalated":
                self._joint(c, base)
            return
        amount = p.vary(rng, base, 0.8, 1.2)
        self._review(c, "initial", n, "approved", amount)
        limit = data.CAT_FAST_TRACK_LIMIT if plan.cat_code else data.FAST_TRACK_LIMIT
        ordinary = c.injuries == 0 and not c.disputed
        if ordinary and amount <= limit:
            self._close(c, "fast_track", amount)
            return
        plan.cat_delta = ordinary and amount <= data.CAT_FAST_TRACK_LIMIT
        self._second(c, amount)

    def _second(self, c: _Case, amount: Decimal) -> None:
        rng = self.rng
        c.t += p.minutes(rng, 2 * _HOUR, 36 * _HOUR)
        decision, n = p.pick(rng, {"approved": 85, "rejected": 10, "documents_requested": 5}), 1
        if decision == "documents_requested":
            self._review(c, "second", 1, decision)
            c.t += p.minutes(rng, 1 * _DAY, 3 * _DAY)
            decision, n = p.pick(rng, {"approved": 85, "rejected": 15}), 2
        if decision == "rejected":
            self._review(c, "second", n, decision)
            return
        amount = p.vary(rng, amount, 0.9, 1.0)
        self._review(c, "second", n, "approved", amount)
        if amount >= data.JOINT_THRESHOLD or c.injuries > 0 or c.disputed:
            self._joint(c, amount)
        else:
            self._close(c, "standard", amount)

    def _joint(self, c: _Case, amount: Decimal) -> None:
        c.t += p.minutes(self.rng, 1 * _DAY, 4 * _DAY)
        if self.rng.random() < 0.8:
            self._review(c, "joint", 1, "approved", p.vary(self.rng, amount, 0.85, 1.05))
        else:
            self._review(c, "joint", 1, "rejected")

    @staticmethod
    def _close(c: _Case, path: str, amount: Decimal) -> None:
        c.plan.status, c.plan.approval_path, c.plan.payout = "approved", path, amount

    # ---------------------------------------------------------------------- events

    def _dispatch(self, c: _Case) -> None:
        rng, plan = self.rng, c.plan
        skill = plan.line
        if plan.line == "auto" and rng.random() < 0.08:
            skill = "heavy_vehicle"
        task = {"auto": p.pick(rng, {"scene_survey": 60, "shop_survey": 40}),
                "health": p.pick(rng, {"document_pickup": 70, "scene_survey": 30})}.get(
            plan.line, "scene_survey")
        urgent = rng.random() < (0.6 if c.injuries else 0.23)
        body = {
            "dispatch_id": f"D-{c.serial}-1", "case_id": plan.case_id, "task": task,
            "skill": skill, "urgency": "urgent" if urgent else "normal",
            "location": {"province": c.city.province, "city": c.city.name,
                         "district": c.district, "address": c.address},
        }
        staff = self.adjusters.get(c.city.name) or ["ADJ-XX-0000"]
        adjuster = rng.choice(staff)
        if self.bad_adjuster is not None and self.bad_adjuster in staff and (
                rng.random() < 0.35):
            adjuster = self.bad_adjuster
        if adjuster == self.bad_adjuster:  # routed to them when eligible (SPEC §4.2)
            body["preferred_adjuster_id"] = adjuster
        c.adjuster = adjuster
        source = rng.choice(("center/hotline/dispatch-desk", f"insurer/{plan.insurer}/claims-hub"))
        plan.status = "dispatched"
        self._step(c, "dispatch-requested", source, body, "requested_at")

    def _survey(self, c: _Case) -> Decimal | None:
        rng = self.rng
        body: dict[str, Any] = {"review_id": f"R-{c.serial}-survey", "stage": "survey",
                                "case_id": c.plan.case_id,
                                "dispatch_id": f"D-{c.serial}-1", "reviewer_id": c.adjuster}
        if rng.random() < 0.05:
            body |= {"decision": "unable", "reason": rng.choice(data.UNABLE_REASONS)}
            self._step(c, "review-completed", "center/field-app", body, "completed_at")
            return None
        assessed = p.vary(rng, c.estimated, 0.7, 1.15)
        body |= {"decision": "completed", "amount": _m(assessed)}
        self._disputed(c, body)
        c.plan.status = "surveyed"
        self._step(c, "review-completed", "center/field-app", body, "completed_at")
        dispatch_id = f"D-{c.serial}-1"
        if cb.sampled("dispatch", dispatch_id, cb.DISPATCH_PERCENT):
            self._answer(c, "dispatch", dispatch_id, c.t)
        return assessed

    def _review(self, c: _Case, stage: str, n: int, decision: str,
                amount: Decimal | None = None) -> None:
        rng, plan = self.rng, c.plan
        review_id = f"R-{c.serial}-{stage}-{n}"
        if stage == "initial" and plan.initial_at is None:
            plan.initial_at = plan.reported_at + c.t
        reviewer = f"SPEC-{rng.randint(1, 60):03d}" if stage != "joint" else (
            f"SUP-{rng.randint(1, 12):03d}")
        if stage == "initial":
            c.initial_reviewer = reviewer
        elif stage == "second" and reviewer == c.initial_reviewer:  # four eyes (SPEC §4.3)
            reviewer = f"SPEC-{int(reviewer[5:]) % 60 + 1:03d}"
        body: dict[str, Any] = {"review_id": review_id, "stage": stage, "case_id": plan.case_id,
                                "reviewer_id": reviewer, "decision": decision}
        if amount is not None:
            body["amount"] = _m(amount)
        if decision == "rejected":
            body["reason"] = rng.choice(data.REJECT_REASONS)
            plan.status = "rejected"
            self._answer(c, "closing", plan.case_id, c.t)  # mandatory for a rejection
        elif decision == "documents_requested":
            docs = data.MISSING_DOCUMENTS[plan.line]
            body["missing_documents"] = rng.sample(docs, rng.randint(1, min(3, len(docs))))
            plan.status = "documents_pending"
        else:
            plan.status = {"initial": "second_review", "second": "joint_review"}.get(
                stage, "approved")
            if decision == "escalated":
                plan.status = "joint_review"
            if stage == "joint" or decision == "approved":
                plan.payout_review_id = review_id
            if stage == "joint":
                plan.approval_path, plan.payout = "joint", amount
        self._disputed(c, body)
        self._step(c, "review-completed", "center/review-desk", body, "completed_at")

    def _disputed(self, c: _Case, body: dict[str, Any]) -> None:
        if self.rng.random() < 0.03:
            body["disputed"] = True
            c.disputed = True

    def _complaint(self, c: _Case) -> None:
        rng, plan = self.rng, c.plan
        self.complaints += 1
        complaint_id = f"CP-{self.tag}-{self.complaints:06d}"
        category = p.pick(rng, data.CATEGORIES)
        name, phone = c.names if rng.random() < 0.8 else (p.person_name(rng), p.phone(rng))
        text = rng.choice(data.COMPLAINT_TEXT[category]).replace("{phone}", phone)
        body: dict[str, Any] = {"complaint_id": complaint_id, "insurer": plan.insurer,
                                "channel": p.pick(rng, data.CHANNELS), "category": category,
                                "description": text,
                                "complainant": {"name": name, "phone": phone}}
        linked = rng.random() >= 0.10
        if linked:
            body["case_id"] = plan.case_id
        if c.adjuster and category in ("delay", "service_attitude", "adjuster_conduct") and (
            rng.random() < 0.6
        ):
            body["against_adjuster_id"] = c.adjuster
        if rng.random() < 0.8:
            body["received_by"] = f"CS-{rng.randint(1, 40):04d}"
        key = plan.case_id if linked else complaint_id
        at = p.minutes(rng, 1 * _HOUR, 5 * _DAY)
        source = rng.choice((f"insurer/{plan.insurer}/hotline", "center/hotline"))
        self._step(c, "complaint-filed", source, body, "filed_at", at=at, key=key)
        upheld = rng.random() < 0.4
        review: dict[str, Any] = {
            "review_id": f"R-{complaint_id}", "stage": "complaint", "complaint_id": complaint_id,
            "reviewer_id": f"SUP-{rng.randint(1, 12):03d}",
            "decision": "upheld" if upheld else "dismissed",
            "reason": rng.choice(data.UPHELD_REASONS if upheld else data.DISMISSED_REASONS),
        }
        if linked:
            review["case_id"] = plan.case_id
        at += p.minutes(rng, 1 * _DAY, 10 * _DAY)
        self._step(c, "review-completed", "center/complaint-desk", review, "completed_at",
                   at=at, key=key)
        self._answer(c, "complaint", complaint_id, at, complaint_id=complaint_id,
                     case_id=plan.case_id if linked else None, key=key,
                     about=body.get("against_adjuster_id"))

    def _closing_answers(self, c: _Case) -> None:
        """结案回访 once the case's fate is known: none for a withdrawn case; at the first
        ``paid`` for a closed one (sampled, or mandatory after a complaint)."""
        plan = c.plan
        closing = cb.callback_uuid("closing", plan.case_id)
        if plan.status == "withdrawn":  # the desk stops calling once told (SPEC §4.9)
            at = min(s.offset for s in plan.steps if s.topic == "case-withdrawn")
            plan.steps = [s for s in plan.steps if not (
                s.topic == "callback-completed" and "complaint_id" not in s.data
                and (s.offset >= at or s.data["callback_id"] == closing))]
            return
        paid = [s.offset for s in plan.steps
                if s.topic == "payment-settled" and s.data["status"] == "paid"]
        if not paid:
            return
        at = min(paid)
        complained = any(s.topic == "complaint-filed" and s.data.get("case_id") == plan.case_id
                         and s.offset <= at for s in plan.steps)
        if complained or cb.sampled("closing", plan.case_id, cb.CLOSING_PERCENT):
            self._answer(c, "closing", plan.case_id, at)

    def _answer(self, c: _Case, kind: str, subject_id: str, at: timedelta, *,
                complaint_id: str | None = None, case_id: str | None = None,
                key: str | None = None, about: str | None = None) -> None:
        """The calling desk's attempts for a callback claimdesk will request at ``at``."""
        if kind != "complaint":
            case_id, about = c.plan.case_id, c.adjuster
        bad = about is not None and about == self.bad_adjuster
        for delay, body in cb.answers(self.rng, kind, subject_id, case_id, complaint_id, bad):
            self._step(c, "callback-completed", "center/callback-desk", body, "completed_at",
                       at=at + delay, key=key)

    def _step(self, c: _Case, topic: str, source: str, body: dict[str, Any], time_field: str,
              *, lead: timedelta | None = None, at: timedelta | None = None,
              key: str | None = None) -> None:
        plan = c.plan
        lag = timedelta(seconds=self.rng.randint(0, 30))
        plan.steps.append(Step(c.t if at is None else at, topic, key or plan.case_id, source,
                               body, time_field, p.event_id(self.rng), lag, lead))


def _m(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _injuries(rng: random.Random, line: str) -> int:
    odds = {"auto": 0.06, "liability": 0.05}.get(line, 0.0)
    return rng.choice((1, 1, 1, 2, 3)) if rng.random() < odds else 0


def _cat_code(rng: random.Random, cause: str, city: City, year: int) -> str | None:
    if cause == "typhoon" and city.province in data.TYPHOON_PROVINCES and rng.random() < 0.8:
        return data.TYPHOON_CAT.format(year=year)
    if cause == "flood" and rng.random() < 0.3:
        return data.FLOOD_CAT.format(year=year)
    return None
