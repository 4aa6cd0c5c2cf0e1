"""Contract tests of the input events (SPEC §2, §3) against the shared samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from schemas import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    CaseReportedEvent,
    ComplaintFiledEvent,
    Decision,
    DispatchRequestedEvent,
    Envelope,
    Line,
    OutputEvent,
    ReviewCompletedEvent,
    Stage,
)
from tests.conftest import contract_dir


def _examples_dir() -> Path:
    path = contract_dir()
    assert (path / "case.reported.json").is_file(), f"contract samples not found at {path}"
    return path


EXAMPLES = _examples_dir()
TOPIC_OF_TYPE: dict[str, str] = {
    str(get_args(model.model_fields["type"].annotation)[0]): topic
    for topic, model in INPUT_EVENTS.items()
}


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


# ----------------------------------------------------------------------- samples


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_validates(path: Path) -> None:
    raw = path.read_bytes()
    event_type = json.loads(raw)["type"]
    event: Envelope | OutputEvent
    if event_type in TOPIC_OF_TYPE:
        event = INPUT_EVENTS[TOPIC_OF_TYPE[event_type]].model_validate_json(raw)
    else:
        event = OUTPUT_EVENTS[event_type].model_validate_json(raw)
    assert event.type == event_type
    assert event.subject == json.loads(raw)["subject"]
    if isinstance(event, Envelope):
        assert event.subject_key == event.subject


def test_input_samples_cover_every_topic() -> None:
    types = {json.loads(p.read_bytes())["type"] for p in EXAMPLES.glob("*.json")}
    assert set(TOPIC_OF_TYPE) <= types
    assert set(INPUT_EVENTS) == {
        "case-reported",
        "dispatch-requested",
        "review-completed",
        "complaint-filed",
        "payment-settled",
        "case-withdrawn",
        "callback-completed",
        "catastrophe-declared",
    }
    assert set(OUTPUT_EVENTS) - {"alert.resolved"} <= types  # resolved: same data as opened


def test_case_reported_sample_fields() -> None:
    event = CaseReportedEvent.model_validate_json((EXAMPLES / "case.reported.json").read_bytes())
    data = event.data
    assert data.line is Line.AUTO
    assert data.loss.estimated_amount == Decimal("3200.00")
    assert data.loss.injuries == 0
    assert data.incident.city == "深圳市"
    assert data.reporter.relation == "driver"
    assert data.cat_code is None
    assert event.data_time == datetime(2026, 11, 21, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert event.subject_key == "C-PICC-2026-000123"


def test_data_time_and_subject_key_per_type() -> None:
    dispatch = DispatchRequestedEvent.model_validate_json(
        (EXAMPLES / "dispatch.requested.json").read_bytes()
    )
    assert dispatch.data_time == dispatch.data.requested_at
    review = ReviewCompletedEvent.model_validate_json(
        (EXAMPLES / "review.completed.survey.json").read_bytes()
    )
    assert review.data_time == review.data.completed_at
    assert review.data.stage is Stage.SURVEY and review.data.decision is Decision.COMPLETED
    complaint = ComplaintFiledEvent.model_validate_json(
        (EXAMPLES / "complaint.filed.json").read_bytes()
    )
    assert complaint.data_time == complaint.data.filed_at
    doc = sample("complaint.filed.json")
    del doc["data"]["case_id"]
    assert ComplaintFiledEvent.model_validate_json(encode(doc)).subject_key == "CP-2026-0009"
    doc = sample("review.completed.complaint.json")
    del doc["data"]["case_id"]
    assert ReviewCompletedEvent.model_validate_json(encode(doc)).subject_key == "CP-2026-0009"


def test_unknown_fields_are_ignored() -> None:
    doc = sample("case.reported.json")
    doc["traceparent"] = "00-abc"
    doc["data"]["future_field"] = {"x": 1}
    doc["data"]["loss"]["deductible"] = "100.00"
    event = CaseReportedEvent.model_validate_json(encode(doc))
    assert "future_field" not in event.data.model_dump()


def test_optional_fields_may_be_null_or_absent() -> None:
    doc = sample("case.reported.json")
    doc["data"]["incident"].update(district=None, address=None, description=None)
    doc["data"]["reporter"]["relation"] = None
    doc["data"]["insured"]["id_number"] = None
    doc["data"]["loss"]["injuries"] = None
    doc["data"]["cat_code"] = None
    event = CaseReportedEvent.model_validate_json(encode(doc))
    assert event.data.loss.injuries == 0
    doc = sample("review.completed.initial.json")
    doc["data"].update(disputed=None, missing_documents=None, reason=None)
    review = ReviewCompletedEvent.model_validate_json(encode(doc)).data
    assert review.disputed is False and review.missing_documents == ()


def test_models_are_frozen() -> None:
    event = CaseReportedEvent.model_validate_json((EXAMPLES / "case.reported.json").read_bytes())
    with pytest.raises(ValidationError):
        event.data.case_id = "other"  # type: ignore[misc]


def test_resident_id_lowercase_x_normalized() -> None:
    doc = sample("case.reported.json")
    doc["data"]["insured"]["id_number"] = "11010519491231002x"
    event = CaseReportedEvent.model_validate_json(encode(doc))
    assert event.data.insured.id_number == "11010519491231002X"


# ------------------------------------------------------------------------- money


def _amount(raw_number: str) -> Decimal:
    raw = (EXAMPLES / "case.reported.json").read_bytes().replace(b'"3200.00"', raw_number.encode())
    return CaseReportedEvent.model_validate_json(raw).data.loss.estimated_amount


@pytest.mark.parametrize(
    ("raw_number", "expected"),
    [
        ("2980.10", "2980.10"),
        ("0.1", "0.10"),
        ("0.3", "0.30"),
        ("100", "100.00"),
        ("0", "0.00"),
        ("999999999999.99", "999999999999.99"),
        ('"2980.1"', "2980.10"),
        ('"0.01"', "0.01"),
        ('"5000"', "5000.00"),
    ],
)
def test_money_is_exact(raw_number: str, expected: str) -> None:
    value = _amount(raw_number)
    assert isinstance(value, Decimal)
    assert str(value) == expected  # same digits, not only equal value


def test_money_never_goes_through_a_float() -> None:
    # 20 significant digits: a float would round this to 1.1
    with pytest.raises(ValidationError) as info:
        _amount("1.10000000000000000001")
    assert info.value.errors()[0]["type"] == "money_precision"


def test_money_and_time_from_python_objects() -> None:
    doc = sample("case.reported.json")
    doc["data"]["loss"]["estimated_amount"] = Decimal("12.5")
    doc["data"]["reported_at"] = datetime(2026, 11, 21, tzinfo=UTC)
    event = CaseReportedEvent.model_validate(doc)
    assert str(event.data.loss.estimated_amount) == "12.50"
    doc["data"]["loss"]["estimated_amount"] = 0.1
    assert str(CaseReportedEvent.model_validate(doc).data.loss.estimated_amount) == "0.10"
    doc["data"]["reported_at"] = datetime(2026, 11, 21)
    with pytest.raises(ValidationError):
        CaseReportedEvent.model_validate(doc)


def test_money_serializes_with_two_decimals() -> None:
    event = CaseReportedEvent.model_validate_json(_replace_amount("17"))
    dumped = json.loads(event.model_dump_json())
    assert dumped["data"]["loss"]["estimated_amount"] == "17.00"
    assert dumped["data"]["reported_at"] == "2026-11-21T08:00:00+08:00"


def _replace_amount(raw_number: str) -> bytes:
    return (EXAMPLES / "case.reported.json").read_bytes().replace(b'"3200.00"', raw_number.encode())
