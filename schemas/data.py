"""``data`` models of the input events (SPEC §3); the envelopes are in :mod:`schemas.events`.

Fields marked ``# PII`` are personal data (SPEC §8). Optional fields may be
absent or ``null``; ``null`` for a field with a default means the default.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.common import (
    DECISIONS_BY_STAGE,
    Category,
    Channel,
    ContractModel,
    Decision,
    FreeText,
    Identifier,
    Line,
    Money,
    RefId,
    Relation,
    ResidentId,
    Skill,
    Stage,
    Task,
    Text,
    Timestamp,
    Urgency,
)

__all__ = [
    "CaseReported",
    "Complainant",
    "ComplaintFiled",
    "DispatchRequested",
    "EventData",
    "Incident",
    "Insured",
    "Location",
    "Loss",
    "Reporter",
    "ReviewCompleted",
]


def _null_is(default: object, input_type: Any) -> BeforeValidator:
    """Treat an explicit JSON ``null`` like an absent field (optional fields may be null)."""
    return BeforeValidator(
        lambda value: default if value is None else value,
        json_schema_input_type=input_type,
    )


class EventData(ContractModel):
    """Base of the ``data`` of an input event."""

    @property
    @abstractmethod
    def data_time(self) -> datetime:
        """The event's own data timestamp: clocks, windows and buckets use it (SPEC §2)."""

    @property
    @abstractmethod
    def subject_key(self) -> str:
        """The Kafka key / CloudEvents subject: ``case_id`` if present, else ``complaint_id``."""


# ------------------------------------------------------------------ case.reported


class Incident(ContractModel):
    """Where, when and how the loss happened."""

    occurred_at: Timestamp
    province: Text
    city: Text
    district: str | None = None
    address: FreeText | None = None  # PII
    cause: Text
    description: FreeText | None = None  # PII


class Reporter(ContractModel):
    """Who reported the case (PII)."""

    name: Text
    phone: Text
    relation: Relation | None = None


class Insured(ContractModel):
    """The insured party (PII)."""

    name: Text
    id_number: ResidentId | None = None


class Loss(ContractModel):
    """Estimated loss."""

    estimated_amount: Money
    injuries: Annotated[StrictInt, Field(ge=0), _null_is(0, Annotated[int, Field(ge=0)] | None)] = 0


class CaseReported(EventData):
    """``case.reported``: an insurer hands a case over (报案)."""

    case_id: Identifier
    insurer: Text
    report_no: Text
    policy_no: Text  # PII
    line: Line
    reported_at: Timestamp
    channel: Channel
    incident: Incident
    reporter: Reporter
    insured: Insured
    loss: Loss
    cat_code: Text | None = None
    received_by: RefId | None = None  # v2: 首问负责人 (agent or desk id), not PII

    @property
    def data_time(self) -> datetime:
        """``reported_at``."""
        return self.reported_at

    @property
    def subject_key(self) -> str:
        """``case_id``."""
        return self.case_id


# -------------------------------------------------------------- dispatch.requested


class Location(ContractModel):
    """Where the adjuster must go."""

    province: Text
    city: Text
    district: str | None = None
    address: FreeText | None = None  # PII


class DispatchRequested(EventData):
    """``dispatch.requested``: an adjuster is needed for a case (调度)."""

    dispatch_id: RefId
    case_id: Identifier
    task: Task
    skill: Skill
    location: Location
    urgency: Urgency
    requested_at: Timestamp
    preferred_adjuster_id: RefId | None = None

    @property
    def data_time(self) -> datetime:
        """``requested_at``."""
        return self.requested_at

    @property
    def subject_key(self) -> str:
        """``case_id``."""
        return self.case_id


# ---------------------------------------------------------------- review.completed

_REASON_REQUIRED = frozenset(
    {Decision.REJECTED, Decision.DISMISSED, Decision.UNABLE, Decision.EXTENDED}
)
# Members read once: on Python 3.11 each ``Stage.X`` lookup goes through the enum's
# descriptor (~0.15 µs), several times per review event in the rules below.
_COMPLAINT, _SURVEY = Stage.COMPLAINT, Stage.SURVEY
_APPROVED, _DOCUMENTS_REQUESTED = Decision.APPROVED, Decision.DOCUMENTS_REQUESTED


class ReviewCompleted(EventData):
    """``review.completed``: a survey, review stage or complaint was decided.

    Conditional rules (each reported at the named field):
    decision must pair with stage (``DECISIONS_BY_STAGE``); ``case_id`` unless
    stage is complaint; ``complaint_id`` when stage is complaint;
    ``dispatch_id`` when stage is survey; ``amount`` with approved;
    non-empty ``missing_documents`` with documents_requested; non-blank
    ``reason`` with rejected, dismissed, unable or (v2) extended.
    """

    review_id: RefId
    stage: Stage
    case_id: Identifier | None = None
    complaint_id: RefId | None = None
    dispatch_id: RefId | None = None
    reviewer_id: RefId
    decision: Decision
    amount: Money | None = None
    disputed: Annotated[StrictBool, _null_is(False, bool | None)] = False
    missing_documents: Annotated[tuple[Text, ...], _null_is((), list[Text] | None)] = ()
    reason: FreeText | None = None  # PII
    completed_at: Timestamp

    @model_validator(mode="after")
    def _conditional_rules(self) -> ReviewCompleted:
        problems: list[tuple[str, str]] = []
        stage, decision = self.stage, self.decision  # read once: this runs for every review
        allowed = DECISIONS_BY_STAGE[stage]
        if decision not in allowed:
            names = ", ".join(allowed)
            problems.append(("decision", f"must be one of {names} when stage is {stage}"))
        if stage is _COMPLAINT:
            if self.complaint_id is None:
                problems.append(("complaint_id", "required when stage is complaint"))
        elif self.case_id is None:
            problems.append(("case_id", "required unless stage is complaint"))
        if stage is _SURVEY and self.dispatch_id is None:
            problems.append(("dispatch_id", "required when stage is survey"))
        if decision is _APPROVED and self.amount is None:
            problems.append(("amount", "required when decision is approved"))
        if decision is _DOCUMENTS_REQUESTED and not self.missing_documents:
            problems.append(
                ("missing_documents", "required and non-empty when decision is documents_requested")
            )
        if decision in _REASON_REQUIRED and not (self.reason and self.reason.strip()):
            problems.append(("reason", f"required when decision is {decision}"))
        if problems:
            raise _conditional_error(type(self).__name__, problems)
        return self

    @property
    def data_time(self) -> datetime:
        """``completed_at``."""
        return self.completed_at

    @property
    def subject_key(self) -> str:
        """``case_id``, else ``complaint_id`` (one of them is guaranteed by validation)."""
        key = self.case_id or self.complaint_id
        assert key is not None  # guaranteed by _conditional_rules
        return key


def _conditional_error(title: str, problems: list[tuple[str, str]]) -> ValidationError:
    """One ``conditional`` error per (field, message), located at the field."""
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("conditional", message), "loc": (field,), "input": None}
        for field, message in problems
    ]
    return ValidationError.from_exception_data(title, details, hide_input=True)


# ----------------------------------------------------------------- complaint.filed


class Complainant(ContractModel):
    """Who complains (PII)."""

    name: Text
    phone: Text


class ComplaintFiled(EventData):
    """``complaint.filed``: a complaint (投诉), with or without a known case."""

    complaint_id: RefId
    case_id: Identifier | None = None
    insurer: Text
    channel: Channel
    category: Category
    against_adjuster_id: RefId | None = None
    description: FreeText  # PII
    complainant: Complainant
    received_by: RefId | None = None  # v2: agent or desk who took the complaint, not PII
    filed_at: Timestamp

    @property
    def data_time(self) -> datetime:
        """``filed_at``."""
        return self.filed_at

    @property
    def subject_key(self) -> str:
        """``case_id``, else ``complaint_id``."""
        return self.case_id or self.complaint_id
