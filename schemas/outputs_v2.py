"""``data`` models of the v2 outputs (SPEC §3 Outputs): notices, callback requests, escalations.

Notices and callback requests carry PII the gateway needs (``to.name``, ``to.phone`` and,
for ``complaint_extended``, ``params.reason``). SPEC §8: the outbox stores them *without*
it and the publisher, connected as the PII role, fills it in at publish time.
:data:`PII_FIELDS` names those paths; :func:`without_pii` and :func:`with_pii` are the two
halves of that round trip, so the writer and the publisher agree on one list.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from schemas.common import FreeText, Identifier, Money, OutputModel, RefId, Text, Timestamp
from schemas.enums import (
    CallbackKind,
    CallbackReason,
    Clock,
    EscalationCause,
    EscalationLevel,
    EscalationSubject,
    NoticeKind,
    RecipientRole,
    Stage,
)

__all__ = [
    "NOTICE_PARAMS",
    "PII_FIELDS",
    "CallbackRequested",
    "ComplaintExtendedParams",
    "ComplaintResultParams",
    "DecisionParams",
    "DelayParams",
    "DispatchAssignedParams",
    "DocumentsRequiredParams",
    "EscalationRaised",
    "NoticeParams",
    "NoticeRequested",
    "PaymentPaidParams",
    "Recipient",
    "with_pii",
    "without_pii",
]

_Uuid = Annotated[str, Field(min_length=36, max_length=36)]

#: Dotted paths (inside ``data``) of the PII an output carries, per CloudEvents type.
#: ``params.reason`` exists only in ``complaint_extended`` notices.
PII_FIELDS: dict[str, tuple[str, ...]] = {
    "notice.requested": ("to.name", "to.phone", "params.reason"),
    "callback.requested": ("to.name", "to.phone"),
}


class Recipient(OutputModel):
    """Whom the gateway or calling desk contacts; ``name`` and ``phone`` are PII."""

    role: RecipientRole
    name: Text  # PII, filled at publish time
    phone: Text  # PII, filled at publish time


# ------------------------------------------------------------------ notice params


class DispatchAssignedParams(OutputModel):
    """``dispatch_assigned``: who comes and by when the survey is due."""

    adjuster_id: RefId
    survey_due_by: Timestamp


class DocumentsRequiredParams(OutputModel):
    """``documents_required``: the full list of missing documents (一次性告知), and the stage."""

    missing_documents: Annotated[tuple[Text, ...], Field(min_length=1)]
    stage: Stage


class DelayParams(OutputModel):
    """``delay``: the clock (``determination``) that is late or near late, and its due time."""

    clock: Clock
    due_at: Timestamp


class DecisionParams(OutputModel):
    """``decision``: approved or rejected; ``amount``/``pay_by`` null for 0.00 and rejections.

    A rejection carries no reason: the written refusal is the insurer's (art. 24).
    """

    decision: Literal["approved", "rejected"]
    amount: Money | None
    pay_by: Timestamp | None


class PaymentPaidParams(OutputModel):
    """``payment_paid``: the amount paid and when."""

    amount: Money
    paid_at: Timestamp


class ComplaintResultParams(OutputModel):
    """``complaint_result``: the complaint's decision."""

    decision: Literal["upheld", "dismissed"]


class ComplaintExtendedParams(OutputModel):
    """``complaint_extended``: the new due time and why (``reason`` is PII)."""

    due_at: Timestamp
    reason: FreeText  # PII, filled at publish time


NoticeParams = (
    DispatchAssignedParams
    | DocumentsRequiredParams
    | DelayParams
    | DecisionParams
    | PaymentPaidParams
    | ComplaintResultParams
    | ComplaintExtendedParams
)

#: The params model of each notice kind.
NOTICE_PARAMS: dict[NoticeKind, type[OutputModel]] = {
    NoticeKind.DISPATCH_ASSIGNED: DispatchAssignedParams,
    NoticeKind.DOCUMENTS_REQUIRED: DocumentsRequiredParams,
    NoticeKind.DELAY: DelayParams,
    NoticeKind.DECISION: DecisionParams,
    NoticeKind.PAYMENT_PAID: PaymentPaidParams,
    NoticeKind.COMPLAINT_RESULT: ComplaintResultParams,
    NoticeKind.COMPLAINT_EXTENDED: ComplaintExtendedParams,
}


_NOTICE_KINDS = frozenset(kind.value for kind in NoticeKind)


def _subject_present(case_id: str | None, complaint_id: str | None) -> None:
    if case_id is None and complaint_id is None:
        raise ValueError("case_id or complaint_id is required")


# -------------------------------------------------------------------- outputs


class NoticeRequested(OutputModel):
    """``notice.requested``: ask the notification gateway to tell the customer.

    ``params`` is validated against the model of ``kind`` (:data:`NOTICE_PARAMS`).
    """

    notice_id: _Uuid
    kind: NoticeKind
    case_id: Identifier | None
    complaint_id: RefId | None
    insurer: Text
    to: Recipient
    params: NoticeParams
    due_by: Timestamp
    created_at: Timestamp

    @model_validator(mode="before")
    @classmethod
    def _params_of_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("params"), Mapping):
            kind = data.get("kind")
            model = NOTICE_PARAMS.get(kind) if kind in _NOTICE_KINDS else None
            if model is not None:
                data = {**data, "params": model.model_validate(data["params"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> NoticeRequested:
        _subject_present(self.case_id, self.complaint_id)
        if not isinstance(self.params, NOTICE_PARAMS[self.kind]):
            raise ValueError(f"params do not match kind {self.kind}")
        return self


class CallbackRequested(OutputModel):
    """``callback.requested``: ask the calling desk to call the customer back (回访)."""

    callback_id: _Uuid
    kind: CallbackKind
    case_id: Identifier | None
    complaint_id: RefId | None
    dispatch_id: RefId | None
    adjuster_id: RefId | None  # whose work is asked about
    insurer: Text
    reason: CallbackReason
    due_by: Timestamp
    requested_at: Timestamp
    to: Recipient

    @model_validator(mode="after")
    def _consistent(self) -> CallbackRequested:
        _subject_present(self.case_id, self.complaint_id)
        return self


class EscalationRaised(OutputModel):
    """``escalation.raised``: a case owner or supervisor must act (首问负责制). No PII."""

    escalation_id: _Uuid
    subject_type: EscalationSubject
    subject_id: RefId
    case_id: Identifier | None
    cause: EscalationCause
    level: EscalationLevel
    to: RefId  # owner's or supervisor's id
    raised_at: Timestamp
    due_at: Timestamp | None
    summary: str  # no PII


# ---------------------------------------------------------------- PII round trip


def without_pii(type_: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of output ``data`` (JSON-like) with the :data:`PII_FIELDS` removed."""
    out = copy.deepcopy(dict(data))
    for path in PII_FIELDS.get(type_, ()):
        *parents, leaf = path.split(".")
        node: Any = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def with_pii(type_: str, data: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A deep copy of ``data`` with PII set from ``values`` (dotted path -> text).

    Raises ``KeyError`` for a path that is not one of the type's :data:`PII_FIELDS` (so PII
    can only go where the contract puts it). Missing values are left for validation
    (:func:`schemas.build_output`) to report.
    """
    allowed = PII_FIELDS.get(type_, ())
    out = copy.deepcopy(dict(data))
    for path, value in values.items():
        if path not in allowed:
            raise KeyError(f"{path} is not a PII field of {type_}")
        *parents, leaf = path.split(".")
        node: Any = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out
