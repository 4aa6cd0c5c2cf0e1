"""``data`` models of the v2 input events (SPEC §3): settlement, withdrawal, callback, catastrophe.

Kept apart from :mod:`schemas.data` (the v1 inputs) so each module stays readable; the
conventions are the same: optional fields may be absent or ``null``, conditional rules
are reported at the offending field (``data.failure_code``), never quoting values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt, model_validator

from schemas.common import (
    ContractModel,
    FreeText,
    Identifier,
    Money,
    RefId,
    Text,
    Timestamp,
)
from schemas.data import EventData, _conditional_error, _null_is
from schemas.enums import CallbackOutcome, FailureCode, PaymentStatus, Peril, WithdrawalReason

__all__ = [
    "CATCODE_PATTERN",
    "UUID_PATTERN",
    "Area",
    "CallbackCompleted",
    "CaseWithdrawn",
    "CatCode",
    "CatastropheDeclared",
    "PaymentSettled",
    "Uuid",
]

#: Lower- or upper-case hex UUID in its 8-4-4-4-12 text form (any version).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _lower(value: str) -> str:
    return value.lower()


#: A UUID given by claimdesk (``payout_id``, ``callback_id``): kept as lower-case text, so it
#: compares equal to the ids claimdesk generated whatever case the producer echoed back.
Uuid = Annotated[
    str, Field(pattern=UUID_PATTERN, json_schema_extra={"format": "uuid"}), AfterValidator(_lower)
]

#: Pattern of a catastrophe code (``TY-2026-21``): 1–32 characters of ``[A-Za-z0-9_-]``.
CATCODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
CatCode = Annotated[str, Field(min_length=1, max_length=32, pattern=CATCODE_PATTERN)]

_Flag = Annotated[StrictBool, _null_is(False, bool | None)]

# Enum members read once (each ``Enum.X`` lookup costs ~0.15 µs on Python 3.11).
_FAILED, _REACHED = PaymentStatus.FAILED, CallbackOutcome.REACHED


# ------------------------------------------------------------------ payment.settled


class PaymentSettled(EventData):
    """``payment.settled``: the payment system paid (or failed to pay) a payout.

    ``failure_code`` is required iff ``status`` is ``failed``.
    """

    settlement_id: RefId
    payout_id: Uuid
    case_id: Identifier
    status: PaymentStatus
    amount: Money
    settled_at: Timestamp
    failure_code: FailureCode | None = None
    bank_ref: RefId | None = None  # payment system's reference, not PII

    @model_validator(mode="after")
    def _failure_code_iff_failed(self) -> PaymentSettled:
        failed = self.status is _FAILED
        if failed and self.failure_code is None:
            raise _conditional_error(
                type(self).__name__, [("failure_code", "required when status is failed")]
            )
        if not failed and self.failure_code is not None:
            raise _conditional_error(
                type(self).__name__, [("failure_code", "only allowed when status is failed")]
            )
        return self

    @property
    def data_time(self) -> datetime:
        """``settled_at``."""
        return self.settled_at

    @property
    def subject_key(self) -> str:
        """``case_id``."""
        return self.case_id


# ------------------------------------------------------------------- case.withdrawn


class CaseWithdrawn(EventData):
    """``case.withdrawn`` (撤案): the insurer or customer withdraws a case."""

    case_id: Identifier
    reason_code: WithdrawalReason
    requested_by: RefId | None = None  # agent or desk id, not PII
    withdrawn_at: Timestamp

    @property
    def data_time(self) -> datetime:
        """``withdrawn_at``."""
        return self.withdrawn_at

    @property
    def subject_key(self) -> str:
        """``case_id``."""
        return self.case_id


# --------------------------------------------------------------- callback.completed


class CallbackCompleted(EventData):
    """``callback.completed`` (回访): one attempt of a requested callback.

    ``satisfaction`` (1–5) is required iff ``outcome`` is ``reached``; ``case_id`` is
    required unless the callback is about a complaint without a case (then
    ``complaint_id`` is required).
    """

    callback_id: Uuid
    case_id: Identifier | None = None
    complaint_id: RefId | None = None
    attempt: Annotated[StrictInt, Field(ge=1, le=3)]
    outcome: CallbackOutcome
    satisfaction: Annotated[StrictInt, Field(ge=1, le=5)] | None = None
    praise: _Flag = False
    report: _Flag = False
    comment: FreeText | None = None  # PII
    agent_id: RefId
    completed_at: Timestamp

    @model_validator(mode="after")
    def _conditional_rules(self) -> CallbackCompleted:
        problems: list[tuple[str, str]] = []
        reached = self.outcome is _REACHED
        if reached and self.satisfaction is None:
            problems.append(("satisfaction", "required when outcome is reached"))
        if not reached and self.satisfaction is not None:
            problems.append(("satisfaction", "only allowed when outcome is reached"))
        if self.case_id is None and self.complaint_id is None:
            problems.append(("case_id", "required unless complaint_id is given"))
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


# ------------------------------------------------------------- catastrophe.declared


class Area(ContractModel):
    """A declared area: a province, or one city of it (``city`` null = the whole province)."""

    province: Text
    city: Text | None = None


class CatastropheDeclared(EventData):
    """``catastrophe.declared`` (巨灾): a later ``declared_at`` of a ``cat_code`` replaces it."""

    cat_code: CatCode
    name: Text  # not PII
    peril: Peril
    areas: Annotated[tuple[Area, ...], Field(min_length=1)]
    occurred_from: Timestamp
    occurred_to: Timestamp | None = None  # null = still going on
    declared_at: Timestamp

    @property
    def data_time(self) -> datetime:
        """``declared_at``."""
        return self.declared_at

    @property
    def subject_key(self) -> str:
        """``cat_code``."""
        return self.cat_code
