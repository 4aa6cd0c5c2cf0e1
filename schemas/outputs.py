"""Output events and their deterministic ids (SPEC §2 "Outputs", §3 "Outputs").

Every output is a CloudEvents envelope with ``source`` ``claimdesk`` and an
``id`` that is a UUIDv5 (URL namespace) of ``claimdesk:<type>:<fields>``, so a
replay re-publishes identical ids. Amounts serialize as 2-decimal strings,
datetimes as ISO 8601 with offset. Fields documented as conditional
(``payout.approved.cat_code`` "if any", ``alert.staffing`` "for surges") are
omitted when null; every other field is always present (``null`` if unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_json

from schemas.common import (
    AlertKind,
    ApprovalPath,
    ContractModel,
    DispatchStatus,
    Identifier,
    Money,
    OutputModel,
    RefId,
    ScopeKey,
    Severity,
    Text,
    Timestamp,
    format_timestamp,
)
from schemas.ids import (
    PAY_WITHIN,
    alert_id,
    alert_opened_event_id,
    alert_resolved_event_id,
    callback_id,
    dispatch_assigned_event_id,
    escalation_id,
    notice_id,
    pay_by,
    payout_approved_event_id,
    payout_id,
    scope_json,
)
from schemas.outputs_v2 import CallbackRequested, EscalationRaised, NoticeRequested

__all__ = [
    "CLAIMDESK_SOURCE",
    "OUTPUT_EVENTS",
    "PAY_WITHIN",
    "AlertData",
    "AlertOpenedEvent",
    "AlertResolvedEvent",
    "CallbackRequestedEvent",
    "DispatchAssigned",
    "DispatchAssignedEvent",
    "EscalationRaisedEvent",
    "NoticeRequestedEvent",
    "OutputEvent",
    "PayoutApproved",
    "PayoutApprovedEvent",
    "Staffing",
    "alert_id",
    "alert_opened_event_id",
    "alert_resolved_event_id",
    "build_output",
    "callback_id",
    "dispatch_assigned_event_id",
    "escalation_id",
    "notice_id",
    "pay_by",
    "payout_approved_event_id",
    "payout_id",
    "scope_json",
]

#: ``source`` of every output event.
CLAIMDESK_SOURCE = "claimdesk"

# ------------------------------------------------------------------------ data models





def _omitted_when_null(*fields: str) -> Callable[[dict[str, Any]], None]:
    """JSON Schema hook: ``fields`` are left out (never null) when they do not apply."""

    def hook(schema: dict[str, Any]) -> None:
        schema["required"] = [name for name in schema.get("required", []) if name not in fields]
        for name in fields:
            prop = schema["properties"][name]
            options = [opt for opt in prop.pop("anyOf", []) if opt != {"type": "null"}]
            if len(options) == 1:
                prop.update(options[0])
            prop.pop("default", None)

    return hook


class DispatchAssigned(OutputModel):
    """``dispatch.assigned``: routing decision; ``adjuster_id`` is set when ``assigned``, null
    when ``queued`` (v2: either for ``cancelled`` and ``reassigned``)."""

    dispatch_id: RefId
    case_id: Identifier
    status: DispatchStatus
    adjuster_id: RefId | None
    decided_at: Timestamp
    survey_due_by: Timestamp
    route_reason: str  # human-readable, no PII

    @model_validator(mode="after")
    def _adjuster_matches_status(self) -> DispatchAssigned:
        # v2: cancelled and reassigned may carry an adjuster or not (reassigned and queued
        # again has none; a cancelled dispatch names the one it had, if any).
        if self.status is DispatchStatus.ASSIGNED and self.adjuster_id is None:
            raise ValueError("adjuster_id must be set when assigned")
        if self.status is DispatchStatus.QUEUED and self.adjuster_id is not None:
            raise ValueError("adjuster_id must be null when queued")
        return self


class PayoutApproved(OutputModel):
    """``payout.approved``: tells payment systems to pay (at most one per case)."""

    model_config = ConfigDict(json_schema_extra=_omitted_when_null("cat_code"))

    payout_id: Annotated[str, Field(min_length=36, max_length=36)]
    case_id: Identifier
    insurer: Text
    report_no: Text
    amount: Money
    currency: Literal["CNY"] = "CNY"
    approval_path: ApprovalPath
    approved_at: Timestamp
    pay_by: Timestamp
    cat_code: Annotated[Text | None, Field(exclude_if=lambda value: value is None)] = None


class Staffing(OutputModel):
    """Staffing advice of a surge alert (Erlang C)."""

    adjusters_needed: Annotated[int, Field(ge=0)]
    arrival_rate_per_hour: float
    mean_survey_hours: float
    target: str


class AlertData(OutputModel):
    """``alert.opened`` / ``alert.resolved`` data. ``scope`` keys must be :class:`ScopeKey` values."""

    model_config = ConfigDict(json_schema_extra=_omitted_when_null("staffing"))

    alert_id: Annotated[str, Field(min_length=36, max_length=36)]
    kind: AlertKind
    severity: Severity
    scope: dict[str, str]
    summary: str  # no PII
    value: int | float
    threshold: int | float
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    staffing: Annotated[Staffing | None, Field(exclude_if=lambda value: value is None)] = None

    @field_validator("scope")
    @classmethod
    def _scope_keys(cls, scope: dict[str, str]) -> dict[str, str]:
        allowed = {key.value for key in ScopeKey}
        if not set(scope) <= allowed:
            raise ValueError(f"keys must be among {', '.join(sorted(allowed))}")
        return scope


# -------------------------------------------------------------------------- envelopes

OutputType = Literal[
    "dispatch.assigned",
    "payout.approved",
    "alert.opened",
    "alert.resolved",
    "notice.requested",
    "callback.requested",
    "escalation.raised",
]


class OutputEvent(OutputModel):
    """CloudEvents envelope of an output event (``source`` ``claimdesk``)."""

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Annotated[str, Field(min_length=1, max_length=256)] = CLAIMDESK_SOURCE
    type: OutputType
    time: Timestamp
    datacontenttype: Literal["application/json"] = "application/json"
    subject: Annotated[str, Field(min_length=1)]
    data: ContractModel


class DispatchAssignedEvent(OutputEvent):
    """Envelope on topic ``dispatch-assigned`` (subject ``case_id``)."""

    type: Literal["dispatch.assigned"]
    data: DispatchAssigned


class PayoutApprovedEvent(OutputEvent):
    """Envelope on topic ``payout-approved`` (subject ``case_id``)."""

    type: Literal["payout.approved"]
    data: PayoutApproved


class AlertOpenedEvent(OutputEvent):
    """Envelope ``alert.opened`` on topic ``alerts`` (subject ``alert_id``)."""

    type: Literal["alert.opened"]
    data: AlertData


class AlertResolvedEvent(OutputEvent):
    """Envelope ``alert.resolved`` on topic ``alerts``; ``data.resolved_at`` is required."""

    type: Literal["alert.resolved"]
    data: AlertData

    @model_validator(mode="after")
    def _resolved(self) -> AlertResolvedEvent:
        if self.data.resolved_at is None:
            raise ValueError("data.resolved_at is required in alert.resolved")
        return self


class NoticeRequestedEvent(OutputEvent):
    """Envelope on topic ``customer-notices`` (v2; subject case_id, else complaint_id).

    Its ``id`` is the ``notice_id``."""

    type: Literal["notice.requested"]
    data: NoticeRequested


class CallbackRequestedEvent(OutputEvent):
    """Envelope on topic ``callback-requested`` (v2); its ``id`` is the ``callback_id``."""

    type: Literal["callback.requested"]
    data: CallbackRequested


class EscalationRaisedEvent(OutputEvent):
    """Envelope on topic ``escalations`` (v2); its ``id`` is the ``escalation_id``."""

    type: Literal["escalation.raised"]
    data: EscalationRaised


#: Output envelope model per CloudEvents ``type``.
OUTPUT_EVENTS: dict[str, type[OutputEvent]] = {
    "dispatch.assigned": DispatchAssignedEvent,
    "payout.approved": PayoutApprovedEvent,
    "alert.opened": AlertOpenedEvent,
    "alert.resolved": AlertResolvedEvent,
    "notice.requested": NoticeRequestedEvent,
    "callback.requested": CallbackRequestedEvent,
    "escalation.raised": EscalationRaisedEvent,
}


def build_output(type_: str, data: BaseModel, subject: str, event_id: str, time: datetime) -> bytes:
    """Serialize one output event as UTF-8 CloudEvents JSON (non-ASCII kept as is).

    ``type_`` is an output CloudEvents type, ``data`` the matching data model
    (e.g. :class:`PayoutApproved` for ``payout.approved``), ``time`` the aware
    envelope time. The envelope is validated before serialization.

    Raises:
        ValueError: unknown ``type_`` or invalid envelope (``ValidationError``).
        TypeError: ``data`` is not the model ``type_`` requires.
    """
    model = OUTPUT_EVENTS.get(type_)
    if model is None:
        raise ValueError(f"unknown output type {type_!r}")
    expected: Any = model.model_fields["data"].annotation
    if not isinstance(data, expected):
        raise TypeError(f"{type_} needs {expected.__name__} data, got {type(data).__name__}")
    if type(data) is expected and _plainly_valid(type_, data, subject, event_id, time):
        return _envelope_json(type_, data, subject, event_id, time)
    event = model.model_validate(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": CLAIMDESK_SOURCE,
            "type": type_,
            "time": time,
            "datacontenttype": "application/json",
            "subject": subject,
            "data": data,
        }
    )
    return event.model_dump_json().encode("utf-8")


def _plainly_valid(type_: str, data: BaseModel, subject: str, event_id: str,
                   time: datetime) -> bool:
    """Would the envelope validate? Checked by hand for the usual arguments (an ``str`` id
    and subject of valid length, an aware ``datetime``, no ``alert.resolved`` without its
    ``resolved_at``); anything else takes the validating path, which raises as before."""
    return (type(event_id) is str and 1 <= len(event_id) <= 256
            and type(subject) is str and len(subject) >= 1
            and type(time) is datetime and time.utcoffset() is not None
            and (type_ != "alert.resolved" or getattr(data, "resolved_at", None) is not None))


def _envelope_json(type_: str, data: BaseModel, subject: str, event_id: str,
                   time: datetime) -> bytes:
    """The envelope's ``model_dump_json()`` bytes without building the envelope model:
    the same field order, strings escaped by the same serializer (``to_json``), ``time``
    by the same ``format_timestamp``, ``data`` by its own (identical) model serializer.
    Building and validating the envelope was ~3 % of a worker's CPU; the guard
    ``tests/unit/test_build_output_fast.py`` compares the bytes with the validating path."""
    return b"".join((
        b'{"specversion":"1.0","id":', to_json(event_id),
        b',"source":"claimdesk","type":', to_json(type_),
        b',"time":', to_json(format_timestamp(time)),
        b',"datacontenttype":"application/json","subject":', to_json(subject),
        b',"data":', data.__pydantic_serializer__.to_json(data), b"}",
    ))
