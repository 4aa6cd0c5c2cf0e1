"""Table-driven invalid input events: each error must name the offending field (SPEC §2, §6)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import INPUT_EVENTS, Envelope, describe_errors
from tests.unit.test_schemas import TOPIC_OF_TYPE, encode, sample

Mutation = Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _del(*path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _update(*path: str, **values: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path:
            target = target[key]
        target.update(values)

    return mutate


CASE = "case.reported.json"
DISPATCH = "dispatch.requested.json"
INITIAL = "review.completed.initial.json"
SURVEY = "review.completed.survey.json"
COMPLAINT_REVIEW = "review.completed.complaint.json"
COMPLAINT = "complaint.filed.json"
PAID = "payment.settled.json"
FAILED = "payment.settled.failed.json"
WITHDRAWN = "case.withdrawn.json"
CALLBACK = "callback.completed.json"
CATASTROPHE = "catastrophe.declared.json"

# (id, sample, mutation, expected error location)
INVALID: list[tuple[str, str, Mutation, str]] = [
    # envelope
    ("specversion", CASE, _set("specversion", value="0.3"), "specversion"),
    ("specversion-number", CASE, _set("specversion", value=1.0), "specversion"),
    ("wrong-type", CASE, _set("type", value="dispatch.requested"), "type"),
    ("missing-id", CASE, _del("id"), "id"),
    ("empty-id", CASE, _set("id", value=""), "id"),
    ("empty-source", CASE, _set("source", value=""), "source"),
    ("naive-envelope-time", CASE, _set("time", value="2026-11-21T08:00:05"), "time"),
    ("missing-data", CASE, _del("data"), "data"),
    # case.reported
    ("missing-case-id", CASE, _del("data", "case_id"), "data.case_id"),
    ("case-id-bad-chars", CASE, _set("data", "case_id", value="C/PICC 1"), "data.case_id"),
    ("case-id-too-long", CASE, _set("data", "case_id", value="C" * 65), "data.case_id"),
    ("case-id-empty", CASE, _set("data", "case_id", value=""), "data.case_id"),
    ("case-id-number", CASE, _set("data", "case_id", value=123), "data.case_id"),
    ("bad-line", CASE, _set("data", "line", value="spaceship"), "data.line"),
    ("bad-channel", CASE, _set("data", "channel", value="fax"), "data.channel"),
    ("missing-insurer", CASE, _del("data", "insurer"), "data.insurer"),
    ("empty-insurer", CASE, _set("data", "insurer", value=""), "data.insurer"),
    (
        "naive-reported-at",
        CASE,
        _set("data", "reported_at", value="2026-11-21T08:00:00"),
        "data.reported_at",
    ),
    ("date-only", CASE, _set("data", "reported_at", value="2026-11-21"), "data.reported_at"),
    ("unix-time", CASE, _set("data", "reported_at", value=1763683200), "data.reported_at"),
    (
        "impossible-date",
        CASE,
        _set("data", "reported_at", value="2026-02-30T08:00:00+08:00"),
        "data.reported_at",
    ),
    (
        "naive-occurred-at",
        CASE,
        _set("data", "incident", "occurred_at", value="2026-11-21 07:41"),
        "data.incident.occurred_at",
    ),
    ("missing-city", CASE, _del("data", "incident", "city"), "data.incident.city"),
    ("missing-reporter-phone", CASE, _del("data", "reporter", "phone"), "data.reporter.phone"),
    (
        "bad-relation",
        CASE,
        _set("data", "reporter", "relation", value="cousin"),
        "data.reporter.relation",
    ),
    (
        "bad-id-number",
        CASE,
        _set("data", "insured", "id_number", value="1234"),
        "data.insured.id_number",
    ),
    (
        "money-negative",
        CASE,
        _set("data", "loss", "estimated_amount", value="-1.00"),
        "data.loss.estimated_amount",
    ),
    (
        "money-negative-number",
        CASE,
        _set("data", "loss", "estimated_amount", value=-5),
        "data.loss.estimated_amount",
    ),
    (
        "money-3-decimals",
        CASE,
        _set("data", "loss", "estimated_amount", value="10.005"),
        "data.loss.estimated_amount",
    ),
    (
        "money-3-decimals-number",
        CASE,
        _set("data", "loss", "estimated_amount", value=10.005),
        "data.loss.estimated_amount",
    ),
    (
        "money-float-like-number",
        CASE,
        _set("data", "loss", "estimated_amount", value=0.1 + 0.2),
        "data.loss.estimated_amount",
    ),
    (
        "money-exponent-string",
        CASE,
        _set("data", "loss", "estimated_amount", value="1e3"),
        "data.loss.estimated_amount",
    ),
    (
        "money-too-big",
        CASE,
        _set("data", "loss", "estimated_amount", value="1000000000000"),
        "data.loss.estimated_amount",
    ),
    (
        "money-too-big-number",
        CASE,
        _set("data", "loss", "estimated_amount", value=10**13),
        "data.loss.estimated_amount",
    ),
    (
        "money-nan-string",
        CASE,
        _set("data", "loss", "estimated_amount", value="NaN"),
        "data.loss.estimated_amount",
    ),
    (
        "money-bool",
        CASE,
        _set("data", "loss", "estimated_amount", value=True),
        "data.loss.estimated_amount",
    ),
    (
        "money-leading-zero",
        CASE,
        _set("data", "loss", "estimated_amount", value="0100"),
        "data.loss.estimated_amount",
    ),
    ("money-missing", CASE, _del("data", "loss", "estimated_amount"), "data.loss.estimated_amount"),
    ("injuries-negative", CASE, _set("data", "loss", "injuries", value=-1), "data.loss.injuries"),
    ("injuries-string", CASE, _set("data", "loss", "injuries", value="2"), "data.loss.injuries"),
    ("injuries-float", CASE, _set("data", "loss", "injuries", value=1.5), "data.loss.injuries"),
    # dispatch.requested
    ("bad-task", DISPATCH, _set("data", "task", value="coffee"), "data.task"),
    ("bad-skill", DISPATCH, _set("data", "skill", value="boats"), "data.skill"),
    ("bad-urgency", DISPATCH, _set("data", "urgency", value="asap"), "data.urgency"),
    ("missing-location-city", DISPATCH, _del("data", "location", "city"), "data.location.city"),
    ("missing-dispatch-id", DISPATCH, _del("data", "dispatch_id"), "data.dispatch_id"),
    (
        "dispatch-id-whitespace",
        DISPATCH,
        _set("data", "dispatch_id", value="D 1"),
        "data.dispatch_id",
    ),
    (
        "dispatch-id-too-long",
        DISPATCH,
        _set("data", "dispatch_id", value="D" * 129),
        "data.dispatch_id",
    ),
    (
        "naive-requested-at",
        DISPATCH,
        _set("data", "requested_at", value="2026-11-21T08:06:00"),
        "data.requested_at",
    ),
    # review.completed: pairing and conditional requirements
    ("survey-approved", SURVEY, _set("data", "decision", value="approved"), "data.decision"),
    ("initial-completed", INITIAL, _set("data", "decision", value="completed"), "data.decision"),
    ("initial-upheld", INITIAL, _set("data", "decision", value="upheld"), "data.decision"),
    (
        "complaint-approved",
        COMPLAINT_REVIEW,
        _set("data", "decision", value="approved"),
        "data.decision",
    ),
    ("bad-stage", INITIAL, _set("data", "stage", value="final"), "data.stage"),
    ("bad-decision", INITIAL, _set("data", "decision", value="maybe"), "data.decision"),
    ("case-id-required", INITIAL, _del("data", "case_id"), "data.case_id"),
    ("complaint-id-required", COMPLAINT_REVIEW, _del("data", "complaint_id"), "data.complaint_id"),
    ("dispatch-id-required", SURVEY, _del("data", "dispatch_id"), "data.dispatch_id"),
    ("amount-required", INITIAL, _del("data", "amount"), "data.amount"),
    ("amount-null-approved", INITIAL, _set("data", "amount", value=None), "data.amount"),
    (
        "missing-docs-required",
        INITIAL,
        _set("data", "decision", value="documents_requested"),
        "data.missing_documents",
    ),
    (
        "missing-docs-empty",
        INITIAL,
        _update("data", decision="documents_requested", missing_documents=[]),
        "data.missing_documents",
    ),
    (
        "reason-required-rejected",
        INITIAL,
        _set("data", "decision", value="rejected"),
        "data.reason",
    ),
    (
        "reason-blank-rejected",
        INITIAL,
        _update("data", decision="rejected", reason="  "),
        "data.reason",
    ),
    ("reason-required-unable", SURVEY, _set("data", "decision", value="unable"), "data.reason"),
    (
        "reason-required-dismissed",
        COMPLAINT_REVIEW,
        _update("data", decision="dismissed", reason=None),
        "data.reason",
    ),
    ("disputed-string", INITIAL, _set("data", "disputed", value="yes"), "data.disputed"),
    ("missing-reviewer", INITIAL, _del("data", "reviewer_id"), "data.reviewer_id"),
    (
        "naive-completed-at",
        INITIAL,
        _set("data", "completed_at", value="2026-11-21T14:01:30"),
        "data.completed_at",
    ),
    # complaint.filed
    ("bad-category", COMPLAINT, _set("data", "category", value="weather"), "data.category"),
    ("missing-description", COMPLAINT, _del("data", "description"), "data.description"),
    (
        "missing-complainant-name",
        COMPLAINT,
        _del("data", "complainant", "name"),
        "data.complainant.name",
    ),
    ("complaint-bad-channel", COMPLAINT, _set("data", "channel", value="pigeon"), "data.channel"),
    ("naive-filed-at", COMPLAINT, _set("data", "filed_at", value="2026-11-22"), "data.filed_at"),
    ("received-by-blank", COMPLAINT, _set("data", "received_by", value="a b"), "data.received_by"),
    ("case-received-by-number", CASE, _set("data", "received_by", value=12), "data.received_by"),
    # v2 review: extended only at complaint stage, with a reason
    ("extended-no-reason", COMPLAINT_REVIEW, _update("data", decision="extended", reason=" "),
     "data.reason"),
    ("extended-at-initial", INITIAL, _set("data", "decision", value="extended"), "data.decision"),
    # v2 payment.settled
    ("paid-bad-status", PAID, _set("data", "status", value="pending"), "data.status"),
    ("failed-no-code", FAILED, _del("data", "failure_code"), "data.failure_code"),
    ("failed-null-code", FAILED, _set("data", "failure_code", value=None), "data.failure_code"),
    ("paid-with-code", PAID, _set("data", "failure_code", value="returned"), "data.failure_code"),
    ("failed-bad-code", FAILED, _set("data", "failure_code", value="nsf"), "data.failure_code"),
    ("payout-id-not-uuid", PAID, _set("data", "payout_id", value="P-1"), "data.payout_id"),
    ("settled-amount-float", PAID, _set("data", "amount", value="2980.001"), "data.amount"),
    ("settled-amount-negative", PAID, _set("data", "amount", value=-1), "data.amount"),
    ("naive-settled-at", PAID, _set("data", "settled_at", value="2026-11-24T10:15:00"),
     "data.settled_at"),
    ("settled-no-case", PAID, _del("data", "case_id"), "data.case_id"),
    ("settled-no-settlement-id", PAID, _del("data", "settlement_id"), "data.settlement_id"),
    # v2 case.withdrawn
    ("withdrawn-bad-reason", WITHDRAWN, _set("data", "reason_code", value="bored"),
     "data.reason_code"),
    ("withdrawn-no-time", WITHDRAWN, _del("data", "withdrawn_at"), "data.withdrawn_at"),
    ("withdrawn-bad-case-id", WITHDRAWN, _set("data", "case_id", value="C 1"), "data.case_id"),
    # v2 callback.completed
    ("attempt-zero", CALLBACK, _set("data", "attempt", value=0), "data.attempt"),
    ("attempt-four", CALLBACK, _set("data", "attempt", value=4), "data.attempt"),
    ("attempt-string", CALLBACK, _set("data", "attempt", value="1"), "data.attempt"),
    ("reached-no-satisfaction", CALLBACK, _del("data", "satisfaction"), "data.satisfaction"),
    ("unreachable-with-satisfaction", CALLBACK, _set("data", "outcome", value="unreachable"),
     "data.satisfaction"),
    ("satisfaction-six", CALLBACK, _set("data", "satisfaction", value=6), "data.satisfaction"),
    ("satisfaction-zero", CALLBACK, _set("data", "satisfaction", value=0), "data.satisfaction"),
    ("callback-bad-outcome", CALLBACK, _set("data", "outcome", value="voicemail"), "data.outcome"),
    ("callback-id-not-uuid", CALLBACK, _set("data", "callback_id", value="CB-1"),
     "data.callback_id"),
    ("callback-no-subject", CALLBACK, _del("data", "case_id"), "data.case_id"),
    ("praise-string", CALLBACK, _set("data", "praise", value="yes"), "data.praise"),
    ("callback-no-agent", CALLBACK, _del("data", "agent_id"), "data.agent_id"),
    ("naive-completed-at-callback", CALLBACK,
     _set("data", "completed_at", value="2026-11-22T16:39:10"), "data.completed_at"),
    # v2 catastrophe.declared
    ("cat-code-long", CATASTROPHE, _set("data", "cat_code", value="T" * 33), "data.cat_code"),
    ("cat-code-space", CATASTROPHE, _set("data", "cat_code", value="TY 2026"), "data.cat_code"),
    ("cat-code-empty", CATASTROPHE, _set("data", "cat_code", value=""), "data.cat_code"),
    ("areas-empty", CATASTROPHE, _set("data", "areas", value=[]), "data.areas"),
    ("areas-not-objects", CATASTROPHE, _set("data", "areas", value=["浙江省"]), "data.areas.0"),
    ("area-no-province", CATASTROPHE, _set("data", "areas", 0, value={"city": "泉州市"}),
     "data.areas.0.province"),
    ("area-city-number", CATASTROPHE, _set("data", "areas", 1, "city", value=7),
     "data.areas.1.city"),
    ("bad-peril", CATASTROPHE, _set("data", "peril", value="meteor"), "data.peril"),
    ("naive-occurred-from", CATASTROPHE,
     _set("data", "occurred_from", value="2026-07-27T20:00:00"), "data.occurred_from"),
    ("naive-occurred-to", CATASTROPHE,
     _set("data", "occurred_to", value="2026-07-29"), "data.occurred_to"),
    ("no-declared-at", CATASTROPHE, _del("data", "declared_at"), "data.declared_at"),
]


def _validate(name: str, doc: dict[str, Any]) -> Envelope:
    return INPUT_EVENTS[TOPIC_OF_TYPE[sample(name)["type"]]].model_validate_json(encode(doc))


@pytest.mark.parametrize(
    ("name", "mutate", "location"),
    [pytest.param(name, mutate, loc, id=case_id) for case_id, name, mutate, loc in INVALID],
)
def test_invalid_variant_names_the_field(name: str, mutate: Mutation, location: str) -> None:
    doc = sample(name)
    _validate(name, copy.deepcopy(doc))  # the unmodified sample is valid
    mutate(doc)
    with pytest.raises(ValidationError) as info:
        _validate(name, doc)
    locations = {".".join(str(part) for part in error["loc"]) for error in info.value.errors()}
    assert location in locations
    message = describe_errors(info.value)
    shown = re.sub(r"\.(\d+)", r"[\1]", location)  # list indexes read data.areas[0].city
    assert f"{shown}: " in message
    # messages name fields, never the values that were sent (they may be PII)
    assert "13812345678" not in message and "张伟" not in message


def test_invalid_table_is_large_enough() -> None:
    assert len(INVALID) >= 35
    names = {name for _, name, _, _ in INVALID}
    assert {PAID, FAILED, WITHDRAWN, CALLBACK, CATASTROPHE} <= names  # v2 inputs covered


def test_conditional_messages() -> None:
    doc = sample(INITIAL)
    del doc["data"]["amount"]
    with pytest.raises(ValidationError) as info:
        _validate(INITIAL, doc)
    assert describe_errors(info.value) == "data.amount: required when decision is approved"
    doc = sample(SURVEY)
    doc["data"].update(decision="approved", dispatch_id=None)
    with pytest.raises(ValidationError) as info:
        _validate(SURVEY, doc)
    assert describe_errors(info.value) == (
        "data.decision: must be one of completed, unable when stage is survey; "
        "data.dispatch_id: required when stage is survey"
    )


def test_dlt_sample_message_format() -> None:
    doc = sample(CASE)
    doc["data"]["line"] = "spaceship"
    with pytest.raises(ValidationError) as info:
        _validate(CASE, doc)
    assert describe_errors(info.value) == (
        "data.line: input should be one of auto, property, cargo, liability, health, agriculture"
    )
    assert "spaceship" not in str(info.value)  # inputs hidden from the exception text


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-21T08:00:00Z",
        "2026-11-21T08:00:00.123456789+08:00",
        "2026-11-21 08:00:00-05:30",
        "2026-11-21t08:00:00z",
    ],
)
def test_rfc3339_variants_accepted(value: str) -> None:
    doc = sample(CASE)
    doc["data"]["reported_at"] = value
    reported_at = _validate(CASE, doc).data_time
    assert reported_at.utcoffset() is not None


def test_complaint_stage_needs_no_case() -> None:
    doc = sample(COMPLAINT_REVIEW)
    del doc["data"]["case_id"]
    event = _validate(COMPLAINT_REVIEW, doc)
    assert event.subject_key == "CP-2026-0009"
