"""Event builders for integration tests, based on the contract samples."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.conftest import contract_dir

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=CST)


def _sample(name: str) -> dict[str, Any]:
    return json.loads((contract_dir() / name).read_text(encoding="utf-8"))


def _envelope(sample: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    ev = _sample(sample)
    ev["id"] = str(uuid.uuid4())
    ev["subject"] = subject
    ev["data"] = data
    return ev


def ts(minutes: float) -> str:
    """T0 + minutes, RFC 3339."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def case(case_id: str, *, amount: str = "3200.00", injuries: int = 0, city: str = "深圳市",
         province: str = "广东省", at: float = 0, cat_code: str | None = None,
         insurer: str = "PICC", line: str = "auto") -> dict[str, Any]:
    """A case.reported event."""
    data = copy.deepcopy(_sample("case.reported.json")["data"])
    data.update(case_id=case_id, reported_at=ts(at), insurer=insurer, line=line)
    data["incident"].update(province=province, city=city, occurred_at=ts(at - 10))
    data["loss"] = {"estimated_amount": amount, "injuries": injuries}
    if cat_code:
        data["cat_code"] = cat_code
    return _envelope("case.reported.json", case_id, data)


def dispatch(dispatch_id: str, case_id: str, *, at: float = 5, city: str = "深圳市",
             province: str = "广东省", skill: str = "auto", urgency: str = "urgent",
             preferred: str | None = None) -> dict[str, Any]:
    """A dispatch.requested event."""
    data = copy.deepcopy(_sample("dispatch.requested.json")["data"])
    data.update(dispatch_id=dispatch_id, case_id=case_id, requested_at=ts(at), skill=skill,
                urgency=urgency)
    data["location"].update(province=province, city=city)
    if preferred:
        data["preferred_adjuster_id"] = preferred
    return _envelope("dispatch.requested.json", case_id, data)


_STAGE_REVIEWER = {"second": "SPEC-018", "joint": "SUP-001"}


def review(review_id: str, case_id: str | None, stage: str, decision: str, *, at: float,
           amount: str | None = None, dispatch_id: str | None = None,
           complaint_id: str | None = None, disputed: bool = False,
           reviewer: str | None = None) -> dict[str, Any]:
    """A review.completed event; by default each chain stage has its own reviewer (the
    four-eyes rule, SPEC §4.3, refuses a second or joint review by an earlier decider)."""
    reviewer = reviewer or _STAGE_REVIEWER.get(stage, "SPEC-017")
    data: dict[str, Any] = {"review_id": review_id, "stage": stage, "reviewer_id": reviewer,
                            "decision": decision, "completed_at": ts(at), "disputed": disputed}
    if case_id:
        data["case_id"] = case_id
    if amount is not None:
        data["amount"] = amount
    if dispatch_id:
        data["dispatch_id"] = dispatch_id
    if complaint_id:
        data["complaint_id"] = complaint_id
    if decision in ("rejected", "dismissed", "unable", "extended"):
        data["reason"] = "材料不全 13800000000"
    if decision == "documents_requested":
        data["missing_documents"] = ["驾驶证", "维修发票"]
    return _envelope("review.completed.initial.json", case_id or str(complaint_id), data)


def complaint(complaint_id: str, case_id: str | None, *, at: float, category: str = "delay",
              against: str | None = None) -> dict[str, Any]:
    """A complaint.filed event."""
    data = copy.deepcopy(_sample("complaint.filed.json")["data"])
    data.update(complaint_id=complaint_id, filed_at=ts(at), category=category)
    data.pop("case_id", None)
    data.pop("against_adjuster_id", None)
    if case_id:
        data["case_id"] = case_id
    if against:
        data["against_adjuster_id"] = against
    return _envelope("complaint.filed.json", case_id or complaint_id, data)


def roster_file(tmp: Path) -> Path:
    """The contract's sample roster."""
    path = tmp / "roster.csv"
    path.write_text((contract_dir() / "roster.sample.csv").read_text(encoding="utf-8"),
                    encoding="utf-8")
    return path


def callback_done(callback_id: str, case_id: str | None, attempt: int, outcome: str, *,
                  at: float, satisfaction: int | None = None, report: bool = False,
                  praise: bool = False, complaint_id: str | None = None) -> dict[str, Any]:
    """A callback.completed event (v2, 回访)."""
    data = copy.deepcopy(_sample("callback.completed.json")["data"])
    data.update(callback_id=callback_id, attempt=attempt, outcome=outcome,
                satisfaction=satisfaction, report=report, praise=praise,
                completed_at=ts(at))
    data.pop("case_id", None)
    if case_id:
        data["case_id"] = case_id
    if complaint_id:
        data["complaint_id"] = complaint_id
    if satisfaction is None:
        data.pop("satisfaction")
    return _envelope("callback.completed.json", case_id or str(complaint_id), data)
