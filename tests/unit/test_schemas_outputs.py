"""Output events, deterministic ids, JSON decoding and JSON Schema export (SPEC §2, §3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    AlertData,
    AlertOpenedEvent,
    AlertResolvedEvent,
    CaseReportedEvent,
    DispatchAssigned,
    DispatchAssignedEvent,
    PayoutApproved,
    PayoutApprovedEvent,
    Staffing,
    alert_id,
    alert_opened_event_id,
    alert_resolved_event_id,
    build_output,
    dispatch_assigned_event_id,
    export_json_schemas,
    format_money,
    format_timestamp,
    json_schemas,
    pay_by,
    payout_approved_event_id,
    payout_id,
)
from schemas.export import DEFAULT_DIR
from tests.conftest import contract_dir


def _examples_dir() -> Path:
    path = contract_dir()
    assert (path / "payout.approved.json").is_file(), f"contract samples not found at {path}"
    return path


EXAMPLES = _examples_dir()
CST = timezone(timedelta(hours=8))


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


# --------------------------------------------------------------- deterministic ids


def test_payout_ids_reproduce_sample() -> None:
    doc = sample("payout.approved.json")
    review = sample("review.completed.initial.json")["data"]
    pid = payout_id(review["case_id"], review["review_id"])
    assert pid == doc["data"]["payout_id"] == "0d941194-cef4-560c-b989-d35b8a45f00c"
    assert payout_approved_event_id(pid) == doc["id"]


def test_dispatch_assigned_id_reproduces_sample() -> None:
    doc = sample("dispatch.assigned.json")
    data = doc["data"]
    event_id = dispatch_assigned_event_id(data["dispatch_id"], data["status"], data["adjuster_id"])
    assert event_id == doc["id"]
    queued = dispatch_assigned_event_id(data["dispatch_id"], "queued", None)
    assert queued != doc["id"]
    assert queued == dispatch_assigned_event_id(data["dispatch_id"], "queued", "")


def test_alert_ids_reproduce_sample() -> None:
    doc = sample("alert.opened.json")
    data = doc["data"]
    # key order of the scope does not matter: it is hashed as sorted JSON
    aid = alert_id("surge", {"province": "浙江省", "city": "温州市"}, "2026-11-21T14:00:00+08:00")
    assert aid == data["alert_id"] == doc["subject"] == "5ab357c3-3925-5d7a-a68d-b3d4222fc232"
    assert alert_opened_event_id(aid, data["severity"]) == doc["id"]
    assert alert_opened_event_id(aid, "critical") != doc["id"]
    assert alert_resolved_event_id(aid) not in {doc["id"], aid}


def test_pay_by_is_ten_days() -> None:
    approved = datetime(2026, 11, 21, 14, 1, 30, tzinfo=CST)
    assert format_timestamp(pay_by(approved)) == sample("payout.approved.json")["data"]["pay_by"]


# ------------------------------------------------------------------- serialization


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("payout.approved.json", PayoutApprovedEvent),
        ("dispatch.assigned.json", DispatchAssignedEvent),
        ("alert.opened.json", AlertOpenedEvent),
    ],
)
def test_build_output_reproduces_sample(name: str, model: type[Any]) -> None:
    raw = (EXAMPLES / name).read_bytes()
    event = model.model_validate_json(raw)
    out = build_output(event.type, event.data, event.subject, event.id, event.time)
    assert json.loads(out) == json.loads(raw)
    assert list(json.loads(out)) == list(json.loads(raw))  # same key order
    text = out.decode("utf-8")
    assert '"source":"claimdesk"' in text and '"datacontenttype":"application/json"' in text
    assert "\\u" not in text  # ensure_ascii=False


def _payout(**overrides: Any) -> PayoutApproved:
    fields: dict[str, Any] = {
        "payout_id": payout_id("C-1", "R-1"),
        "case_id": "C-1",
        "insurer": "PICC",
        "report_no": "RDAA1",
        "amount": Decimal(5),
        "approval_path": "standard",
        "approved_at": datetime(2026, 11, 21, 6, 0, 0, 120000, tzinfo=UTC),
        "pay_by": datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return PayoutApproved(**fields)


def test_output_amounts_and_datetimes() -> None:
    payout = _payout(amount=Decimal("1234.5"), cat_code="TY-2026-21")
    out = json.loads(
        build_output("payout.approved", payout, "C-1", "id-1", datetime(2026, 11, 21, tzinfo=UTC))
    )
    assert out["data"]["amount"] == "1234.50"
    assert out["data"]["currency"] == "CNY"
    assert out["data"]["approved_at"] == "2026-11-21T06:00:00.120+00:00"
    assert out["data"]["cat_code"] == "TY-2026-21"
    assert out["time"] == "2026-11-21T00:00:00+00:00"
    assert "cat_code" not in json.loads(
        payout.model_copy(update={"cat_code": None}).model_dump_json()
    )


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(0), "0.00"),
        (Decimal("2980.1"), "2980.10"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal("999999999999.99"), "999999999999.99"),
        (Decimal("7.50"), "7.50"),
    ],
)
def test_format_money(amount: Decimal, text: str) -> None:
    assert format_money(amount) == text


@pytest.mark.parametrize("amount", [Decimal("1.005"), Decimal("NaN"), Decimal("Infinity")])
def test_format_money_refuses_to_round(amount: Decimal) -> None:
    with pytest.raises(ValueError):
        format_money(amount)


def test_format_timestamp() -> None:
    assert (
        format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=CST)) == "2026-01-02T03:04:05+08:00"
    )
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC)).endswith(".000007+00:00")
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 2))


def test_dispatch_assigned_status_and_adjuster_must_agree() -> None:
    base: dict[str, Any] = {
        "dispatch_id": "D-1",
        "case_id": "C-1",
        "decided_at": datetime(2026, 11, 21, tzinfo=CST),
        "survey_due_by": datetime(2026, 11, 21, 4, tzinfo=CST),
        "route_reason": "no eligible adjuster",
    }
    queued = DispatchAssigned(status="queued", adjuster_id=None, **base)
    out = json.loads(build_output("dispatch.assigned", queued, "C-1", "x", base["decided_at"]))
    assert out["data"]["adjuster_id"] is None and out["data"]["status"] == "queued"
    with pytest.raises(ValidationError):
        DispatchAssigned(status="queued", adjuster_id="ADJ-1", **base)
    with pytest.raises(ValidationError):
        DispatchAssigned(status="assigned", adjuster_id=None, **base)


def _alert(**overrides: Any) -> AlertData:
    fields: dict[str, Any] = {
        "alert_id": alert_id("backlog", {"city": "深圳市"}, "2026-11-21T08:00:00+08:00"),
        "kind": "backlog",
        "severity": "warning",
        "scope": {"city": "深圳市"},
        "summary": "深圳市: 51 queued dispatches",
        "value": 51,
        "threshold": 50,
        "opened_at": datetime(2026, 11, 21, 8, tzinfo=CST),
    }
    fields.update(overrides)
    return AlertData(**fields)


def test_alert_serialization() -> None:
    alert = _alert()
    opened = json.loads(build_output("alert.opened", alert, alert.alert_id, "e1", alert.opened_at))
    assert opened["data"]["resolved_at"] is None
    assert "staffing" not in opened["data"]  # only surges carry staffing
    assert opened["data"]["value"] == 51 and isinstance(opened["data"]["value"], int)
    resolved = alert.model_copy(update={"resolved_at": datetime(2026, 11, 21, 9, tzinfo=CST)})
    out = json.loads(
        build_output("alert.resolved", resolved, alert.alert_id, "e2", alert.opened_at)
    )
    assert out["data"]["resolved_at"] == "2026-11-21T09:00:00+08:00"
    surge = _alert(
        kind="surge",
        staffing=Staffing(
            adjusters_needed=3,
            arrival_rate_per_hour=12.0,
            mean_survey_hours=1.5,
            target="80% of surveys start within 2 h",
        ),
    )
    assert json.loads(surge.model_dump_json())["staffing"]["adjusters_needed"] == 3


def test_alert_rules() -> None:
    with pytest.raises(ValidationError):
        _alert(scope={"planet": "mars"})
    with pytest.raises(ValidationError):  # alert.resolved needs resolved_at
        build_output("alert.resolved", _alert(), "a", "e", datetime(2026, 1, 1, tzinfo=UTC))


def test_build_output_rejects_mismatches() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    with pytest.raises(ValueError):
        build_output("payout.rejected", _payout(), "C-1", "x", now)
    with pytest.raises(TypeError):
        build_output("payout.approved", _alert(), "C-1", "x", now)
    with pytest.raises(ValidationError):
        build_output("payout.approved", _payout(), "C-1", "x", datetime(2026, 11, 21))
    with pytest.raises(ValidationError):
        build_output("payout.approved", _payout(), "", "x", now)


def test_resolved_sample_shape_validates() -> None:
    doc = sample("alert.opened.json")
    doc["type"] = "alert.resolved"
    doc["data"]["resolved_at"] = "2026-11-21T15:00:00+08:00"
    assert AlertResolvedEvent.model_validate(doc).data.resolved_at is not None


# --------------------------------------------------------------------- JSON input


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{}", b"{", b'{"a": 1} x', b'{"a": "\\ud800"}', b"[" * 100_000, b""],
)
def test_invalid_json_is_json_invalid(raw: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        CaseReportedEvent.model_validate_json(raw)
    errors = info.value.errors()
    assert [e["type"] for e in errors] == ["json_invalid"]


def test_non_object_json_is_a_schema_error() -> None:
    with pytest.raises(ValidationError) as info:
        CaseReportedEvent.model_validate_json(b"[]")
    assert info.value.errors()[0]["type"] == "model_type"


def test_surrogate_pairs_are_fine() -> None:
    doc = sample("case.reported.json")
    doc["data"]["incident"]["description"] = "车损 \U0001f697"
    raw = json.dumps(doc).encode()  # ASCII escapes incl. a surrogate pair
    event = CaseReportedEvent.model_validate_json(raw)
    assert event.data.incident.description == "车损 \U0001f697"


# ---------------------------------------------------------------------- JSON Schema


def test_checked_in_json_schemas_are_current(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    assert len(written) == len(INPUT_EVENTS) + len(OUTPUT_EVENTS) == 15
    for path in written:
        checked_in = DEFAULT_DIR / path.name
        assert checked_in.is_file(), f"run `python -m schemas` to add {path.name}"
        assert checked_in.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{path.name} is stale: run `python -m schemas`"
        )


def test_json_schema_shapes() -> None:
    docs = json_schemas()
    case = docs["case.reported.schema.json"]
    money = case["$defs"]["Loss"]["properties"]["estimated_amount"]
    assert {option["type"] for option in money["anyOf"]} == {"number", "string"}
    assert case["properties"]["time"]["format"] == "date-time"
    payout = docs["payout.approved.schema.json"]["$defs"]["PayoutApproved"]
    assert payout["properties"]["amount"]["type"] == "string"
    assert "cat_code" not in payout["required"] and "currency" in payout["required"]
