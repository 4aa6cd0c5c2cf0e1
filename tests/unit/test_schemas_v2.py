"""Contract v2 (SPEC §3): new inputs' conditional rules, output ids, notice params, PII paths."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    NOTICE_PARAMS,
    OUTPUT_EVENTS,
    PII_FIELDS,
    AlertData,
    CallbackCompletedEvent,
    CallbackRequested,
    CaseReportedEvent,
    CatastropheDeclaredEvent,
    ComplaintFiledEvent,
    DispatchAssigned,
    EscalationRaised,
    NoticeKind,
    NoticeRequested,
    PaymentSettledEvent,
    ReviewCompletedEvent,
    build_output,
    callback_id,
    dispatch_assigned_event_id,
    escalation_id,
    notice_id,
    with_pii,
    without_pii,
)
from tests.unit.test_schemas import encode, sample

CST = timezone(timedelta(hours=8))


# ----------------------------------------------------------------------- inputs


def test_payment_settled_samples() -> None:
    paid = PaymentSettledEvent.model_validate_json(encode(sample("payment.settled.json")))
    assert paid.data.amount == Decimal("2980.00") and paid.data.failure_code is None
    assert paid.data_time == paid.data.settled_at and paid.subject_key == "C-PICC-2026-000123"
    failed = PaymentSettledEvent.model_validate_json(encode(sample("payment.settled.failed.json")))
    assert failed.data.failure_code == "name_mismatch"


def test_payout_id_is_normalised_to_lower_case() -> None:
    doc = sample("payment.settled.json")
    doc["data"]["payout_id"] = doc["data"]["payout_id"].upper()
    event = PaymentSettledEvent.model_validate_json(encode(doc))
    assert event.data.payout_id == "0d941194-cef4-560c-b989-d35b8a45f00c"


def test_callback_completed_rules() -> None:
    doc = sample("callback.completed.json")
    event = CallbackCompletedEvent.model_validate_json(encode(doc))
    assert event.data.satisfaction == 4 and event.data.praise is True
    doc["data"].update(outcome="refused", satisfaction=None, praise=None, report=None)
    refused = CallbackCompletedEvent.model_validate_json(encode(doc)).data
    assert refused.praise is False and refused.report is False
    doc["data"].update(case_id=None, complaint_id="CP-2026-0009")
    assert CallbackCompletedEvent.model_validate_json(encode(doc)).subject_key == "CP-2026-0009"


def test_catastrophe_declared_sample() -> None:
    event = CatastropheDeclaredEvent.model_validate_json(encode(sample("catastrophe.declared.json")))
    assert event.subject_key == "TY-2026-05" and event.data_time == event.data.declared_at
    assert [(a.province, a.city) for a in event.data.areas][-1] == ("浙江省", None)
    assert event.data.occurred_to is None
    doc = sample("catastrophe.declared.json")
    doc["data"]["areas"] = [{"province": "浙江省"}]  # city absent = whole province
    assert CatastropheDeclaredEvent.model_validate_json(encode(doc)).data.areas[0].city is None


def test_received_by_and_extended() -> None:
    doc = sample("case.reported.json")
    doc["data"]["received_by"] = "CS-0012"
    assert CaseReportedEvent.model_validate_json(encode(doc)).data.received_by == "CS-0012"
    doc = sample("complaint.filed.json")
    doc["data"]["received_by"] = "CD-01"
    assert ComplaintFiledEvent.model_validate_json(encode(doc)).data.received_by == "CD-01"
    doc = sample("review.completed.complaint.json")
    doc["data"]["decision"] = "extended"
    assert ReviewCompletedEvent.model_validate_json(encode(doc)).data.decision == "extended"
    del doc["data"]["reason"]
    with pytest.raises(ValidationError, match="reason"):
        ReviewCompletedEvent.model_validate_json(encode(doc))


# ---------------------------------------------------------------------- output ids


def test_notice_id_reproduces_sample() -> None:
    doc = sample("notice.requested.json")
    nid = notice_id("documents_required", "C-PICC-2026-000777", "R-000777-initial-1")
    assert nid == doc["data"]["notice_id"] == doc["id"]


def test_callback_id_reproduces_sample() -> None:
    doc = sample("callback.requested.json")
    assert callback_id("dispatch", "D-000123-1") == doc["data"]["callback_id"] == doc["id"]
    assert sample("callback.completed.json")["data"]["callback_id"] == doc["id"]


def test_escalation_id_reproduces_sample() -> None:
    doc = sample("escalation.raised.json")
    d = doc["data"]
    eid = escalation_id(d["subject_type"], d["subject_id"], d["cause"], d["level"])
    assert eid == d["escalation_id"] == doc["id"]
    assert escalation_id("case", d["subject_id"], d["cause"], "supervisor") != eid


def test_dispatch_assigned_id_suffix_after_reassignment() -> None:
    doc = sample("dispatch.assigned.json")
    plain = dispatch_assigned_event_id("D-000123-1", "assigned", "ADJ-GD-0042")
    assert plain == doc["id"] == dispatch_assigned_event_id("D-000123-1", "assigned", "ADJ-GD-0042", 0)
    first = dispatch_assigned_event_id("D-000123-1", "reassigned", "ADJ-GD-0042", 1)
    again = dispatch_assigned_event_id("D-000123-1", "reassigned", "ADJ-GD-0042", 2)
    assert len({plain, first, again}) == 3
    import uuid

    name = "claimdesk:dispatch.assigned:D-000123-1:reassigned::1"
    assert dispatch_assigned_event_id("D-000123-1", "reassigned", None, 1) == str(
        uuid.uuid5(uuid.NAMESPACE_URL, name)
    )
    with pytest.raises(ValueError):
        dispatch_assigned_event_id("D-000123-1", "queued", None, -1)


# ------------------------------------------------------------------- output models


def _dispatch(status: str, adjuster: str | None) -> DispatchAssigned:
    return DispatchAssigned(
        dispatch_id="D-1", case_id="C-1", status=status, adjuster_id=adjuster,  # type: ignore[arg-type]
        decided_at=datetime(2026, 11, 21, tzinfo=CST), survey_due_by=datetime(2026, 11, 22, tzinfo=CST),
        route_reason="x",
    )


def test_dispatch_statuses_v2() -> None:
    assert _dispatch("cancelled", None).status == "cancelled"
    assert _dispatch("cancelled", "ADJ-1").adjuster_id == "ADJ-1"
    assert _dispatch("reassigned", None).adjuster_id is None
    assert _dispatch("reassigned", "ADJ-2").adjuster_id == "ADJ-2"
    with pytest.raises(ValidationError):
        _dispatch("assigned", None)
    with pytest.raises(ValidationError):
        _dispatch("queued", "ADJ-1")


def test_alert_kinds_and_cat_code_scope() -> None:
    base: dict[str, Any] = dict(alert_id="5ab357c3-3925-5d7a-a68d-b3d4222fc232", severity="critical",
                                summary="s", value=1, threshold=1,
                                opened_at=datetime(2026, 7, 28, tzinfo=CST))
    AlertData(kind="catastrophe", scope={"cat_code": "TY-2026-05"}, **base)
    AlertData(kind="payment_failed", scope={"insurer": "PICC"}, **base)
    AlertData(kind="satisfaction", scope={"adjuster_id": "ADJ-1"}, **base)
    with pytest.raises(ValidationError):
        AlertData(kind="catastrophe", scope={"peril": "typhoon"}, **base)


def test_notice_params_follow_kind() -> None:
    data = sample("notice.requested.json")["data"]
    notice = NoticeRequested.model_validate(data)
    assert type(notice.params) is NOTICE_PARAMS[NoticeKind.DOCUMENTS_REQUIRED]
    wrong = {**data, "kind": "payment_paid"}
    with pytest.raises(ValidationError):
        NoticeRequested.model_validate(wrong)
    extended = {**data, "kind": "complaint_extended",
                "params": {"due_at": "2026-12-21T08:00:00+08:00", "reason": "需补充调查"}}
    assert NoticeRequested.model_validate(extended).params.reason == "需补充调查"  # type: ignore[union-attr]
    decision = {**data, "kind": "decision",
                "params": {"decision": "rejected", "amount": None, "pay_by": None}}
    dumped = json.loads(NoticeRequested.model_validate(decision).model_dump_json())
    assert dumped["params"] == {"decision": "rejected", "amount": None, "pay_by": None}
    with pytest.raises(ValidationError):
        NoticeRequested.model_validate({**data, "case_id": None, "complaint_id": None})


def test_pii_round_trip_for_the_publisher() -> None:
    data = sample("notice.requested.json")["data"]
    stored = without_pii("notice.requested", data)
    assert "name" not in stored["to"] and "phone" not in stored["to"]
    assert stored["to"]["role"] == "reporter" and data["to"]["name"] == "李四"  # input untouched
    with pytest.raises(ValidationError):
        NoticeRequested.model_validate(stored)  # the gateway needs them: never published without
    filled = with_pii("notice.requested", stored, {"to.name": "李四", "to.phone": "13912345678"})
    assert NoticeRequested.model_validate(filled) == NoticeRequested.model_validate(data)
    with pytest.raises(KeyError):
        with_pii("notice.requested", stored, {"params.stage": "x"})
    cb = sample("callback.requested.json")["data"]
    assert without_pii("callback.requested", cb)["to"] == {"role": "reporter"}
    assert set(PII_FIELDS) == {"notice.requested", "callback.requested"}
    esc = sample("escalation.raised.json")["data"]
    assert without_pii("escalation.raised", esc) == esc


@pytest.mark.parametrize(
    ("name", "model", "subject"),
    [
        ("notice.requested.json", NoticeRequested, "C-PICC-2026-000777"),
        ("callback.requested.json", CallbackRequested, "C-PICC-2026-000123"),
        ("escalation.raised.json", EscalationRaised, "C-PICC-2026-000555"),
    ],
)
def test_build_output_reproduces_v2_samples(name: str, model: type[Any], subject: str) -> None:
    doc = sample(name)
    data = model.model_validate(doc["data"])
    time = datetime.fromisoformat(doc["time"])
    raw = build_output(doc["type"], data, subject, doc["id"], time)
    assert json.loads(raw) == doc
    assert OUTPUT_EVENTS[doc["type"]].model_validate_json(raw).data == data


def test_publisher_fills_exactly_the_contract_pii_paths() -> None:
    """infra.pii_fill (the outbox's PII references) and schemas.PII_FIELDS must not drift."""
    from infra.pii_fill import complainant_of, reporter_of, review_reason

    filled = {f.path for f in (*reporter_of("C-1"), *complainant_of("CP-1"), review_reason("R-1"))}
    contract = {("data", *p.split(".")) for paths in PII_FIELDS.values() for p in paths}
    assert filled == contract
