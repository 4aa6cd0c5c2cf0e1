"""Enumerations of the contract (SPEC §3). Values are the public wire strings.

All are :class:`enum.StrEnum`, so members compare equal to their wire value
(``Line.AUTO == "auto"``) and serialize as plain strings.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DECISIONS_BY_STAGE",
    "AlertKind",
    "ApprovalPath",
    "CallbackKind",
    "CallbackOutcome",
    "CallbackReason",
    "Category",
    "Channel",
    "Clock",
    "Decision",
    "DispatchStatus",
    "EscalationCause",
    "EscalationLevel",
    "EscalationSubject",
    "FailureCode",
    "Line",
    "Outcome",
    "NoticeKind",
    "PaymentStatus",
    "Peril",
    "RecipientRole",
    "Relation",
    "ScopeKey",
    "Severity",
    "Skill",
    "Stage",
    "Task",
    "Urgency",
    "WithdrawalReason",
]


class Line(StrEnum):
    """Line of business of a case (``case.reported.line``)."""

    AUTO = "auto"
    PROPERTY = "property"
    CARGO = "cargo"
    LIABILITY = "liability"
    HEALTH = "health"
    AGRICULTURE = "agriculture"


class Skill(StrEnum):
    """Skill a dispatch needs: any :class:`Line` value, or ``heavy_vehicle``."""

    AUTO = "auto"
    PROPERTY = "property"
    CARGO = "cargo"
    LIABILITY = "liability"
    HEALTH = "health"
    AGRICULTURE = "agriculture"
    HEAVY_VEHICLE = "heavy_vehicle"


class Channel(StrEnum):
    """Channel through which a case or complaint came in."""

    PHONE = "phone"
    APP = "app"
    WEB = "web"
    COUNTER = "counter"
    AGENT = "agent"


class Relation(StrEnum):
    """Relation of the reporter to the insured."""

    INSURED = "insured"
    DRIVER = "driver"
    THIRD_PARTY = "third_party"
    AGENT = "agent"
    OTHER = "other"


class Task(StrEnum):
    """What an adjuster is dispatched to do."""

    SCENE_SURVEY = "scene_survey"
    SHOP_SURVEY = "shop_survey"
    REINSPECTION = "reinspection"
    DOCUMENT_PICKUP = "document_pickup"


class Urgency(StrEnum):
    """Dispatch urgency (drives the survey SLA: urgent 4 h, normal 24 h)."""

    NORMAL = "normal"
    URGENT = "urgent"


class Stage(StrEnum):
    """Stage a ``review.completed`` event closes."""

    SURVEY = "survey"
    INITIAL = "initial"
    SECOND = "second"
    JOINT = "joint"
    COMPLAINT = "complaint"


class Decision(StrEnum):
    """Decision of a review; valid pairings with :class:`Stage` are in ``DECISIONS_BY_STAGE``."""

    COMPLETED = "completed"
    UNABLE = "unable"
    APPROVED = "approved"
    REJECTED = "rejected"
    DOCUMENTS_REQUESTED = "documents_requested"
    ESCALATED = "escalated"
    UPHELD = "upheld"
    DISMISSED = "dismissed"
    EXTENDED = "extended"  # v2: complaint deadline extended (30, then 60 days from filing)


_REVIEW_DECISIONS = (
    Decision.APPROVED,
    Decision.REJECTED,
    Decision.DOCUMENTS_REQUESTED,
    Decision.ESCALATED,
)

#: The decisions each stage allows; any other pairing is invalid (DLT).
DECISIONS_BY_STAGE: dict[Stage, tuple[Decision, ...]] = {
    Stage.SURVEY: (Decision.COMPLETED, Decision.UNABLE),
    Stage.INITIAL: _REVIEW_DECISIONS,
    Stage.SECOND: _REVIEW_DECISIONS,
    Stage.JOINT: _REVIEW_DECISIONS,
    Stage.COMPLAINT: (Decision.UPHELD, Decision.DISMISSED, Decision.EXTENDED),
}


class Category(StrEnum):
    """Complaint category."""

    SERVICE_ATTITUDE = "service_attitude"
    DELAY = "delay"
    AMOUNT_DISPUTE = "amount_dispute"
    ADJUSTER_CONDUCT = "adjuster_conduct"
    PRIVACY = "privacy"
    OTHER = "other"


class DispatchStatus(StrEnum):
    """Status carried by ``dispatch.assigned``."""

    ASSIGNED = "assigned"
    QUEUED = "queued"
    CANCELLED = "cancelled"  # v2: its case was withdrawn
    REASSIGNED = "reassigned"  # v2: its adjuster left the roster (new adjuster, or null if queued)


class ApprovalPath(StrEnum):
    """How a payout was approved."""

    FAST_TRACK = "fast_track"
    STANDARD = "standard"
    JOINT = "joint"


class AlertKind(StrEnum):
    """Kind of an alert."""

    SURGE = "surge"
    BACKLOG = "backlog"
    SLA_BREACH = "sla_breach"
    CONSUMER_LAG = "consumer_lag"
    GROUP_COMPLAINT = "group_complaint"
    DATA_QUALITY = "data_quality"
    PAYMENT_FAILED = "payment_failed"  # v2, scope {insurer}
    SATISFACTION = "satisfaction"  # v2, scope {adjuster_id}
    CATASTROPHE = "catastrophe"  # v2, scope {cat_code}


class Severity(StrEnum):
    """Severity of an alert."""

    WARNING = "warning"
    CRITICAL = "critical"


class ScopeKey(StrEnum):
    """Keys allowed in an alert's ``scope`` object."""

    PROVINCE = "province"
    CITY = "city"
    INSURER = "insurer"
    CLOCK = "clock"
    TOPIC = "topic"
    ADJUSTER_ID = "adjuster_id"
    CAT_CODE = "cat_code"  # v2


# ------------------------------------------------------------------------------ v2


class Clock(StrEnum):
    """SLA clock names (SPEC §4.4); also escalation causes and ``delay`` notice params."""

    DISPATCH = "dispatch"
    SURVEY = "survey"
    INITIAL_REVIEW = "initial_review"
    SECOND_REVIEW = "second_review"
    JOINT_REVIEW = "joint_review"
    DETERMINATION = "determination"
    COMPLAINT = "complaint"
    PAYMENT = "payment"
    CALLBACK = "callback"


class PaymentStatus(StrEnum):
    """``payment.settled.status``."""

    PAID = "paid"
    FAILED = "failed"


class FailureCode(StrEnum):
    """Why a settlement failed (required iff ``status`` is ``failed``)."""

    ACCOUNT_INVALID = "account_invalid"
    NAME_MISMATCH = "name_mismatch"
    BANK_REJECTED = "bank_rejected"
    RETURNED = "returned"
    OTHER = "other"


class WithdrawalReason(StrEnum):
    """``case.withdrawn.reason_code`` (撤案原因)."""

    INSURED_REQUEST = "insured_request"
    DUPLICATE_REPORT = "duplicate_report"
    NO_LOSS = "no_loss"
    INSURER_INSTRUCTION = "insurer_instruction"
    OTHER = "other"


class CallbackOutcome(StrEnum):
    """Outcome of one callback attempt."""

    REACHED = "reached"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


class Peril(StrEnum):
    """Peril of a declared catastrophe."""

    TYPHOON = "typhoon"
    FLOOD = "flood"
    RAINSTORM = "rainstorm"
    EARTHQUAKE = "earthquake"
    HAIL = "hail"
    SNOW = "snow"
    FIRE = "fire"
    OTHER = "other"


class NoticeKind(StrEnum):
    """Kind of a customer notice (``notice.requested.kind``)."""

    DISPATCH_ASSIGNED = "dispatch_assigned"
    DOCUMENTS_REQUIRED = "documents_required"
    DELAY = "delay"
    DECISION = "decision"
    PAYMENT_PAID = "payment_paid"
    COMPLAINT_RESULT = "complaint_result"
    COMPLAINT_EXTENDED = "complaint_extended"


class RecipientRole(StrEnum):
    """Whom a notice or callback addresses (``to.role``)."""

    REPORTER = "reporter"
    COMPLAINANT = "complainant"


class CallbackKind(StrEnum):
    """What a callback asks about (调度回访, 结案回访, complaint result)."""

    DISPATCH = "dispatch"
    CLOSING = "closing"
    COMPLAINT = "complaint"


class CallbackReason(StrEnum):
    """Why a callback is requested."""

    SAMPLED = "sampled"
    MANDATORY = "mandatory"


class EscalationSubject(StrEnum):
    """``escalation.raised.subject_type``."""

    CASE = "case"
    COMPLAINT = "complaint"
    DISPATCH = "dispatch"
    CALLBACK = "callback"
    SETTLEMENT = "settlement"


class EscalationCause(StrEnum):
    """``escalation.raised.cause``: a :class:`Clock` name, or one of the three event causes."""

    DISPATCH = "dispatch"
    SURVEY = "survey"
    INITIAL_REVIEW = "initial_review"
    SECOND_REVIEW = "second_review"
    JOINT_REVIEW = "joint_review"
    DETERMINATION = "determination"
    COMPLAINT = "complaint"
    PAYMENT = "payment"
    CALLBACK = "callback"
    DISSATISFIED = "dissatisfied"
    REPORT = "report"
    PAYMENT_FAILED = "payment_failed"


class EscalationLevel(StrEnum):
    """Who an escalation goes to: the subject's owner or the insurer's supervisor."""

    OWNER = "owner"
    SUPERVISOR = "supervisor"


class Outcome(StrEnum):
    """What became of one input event: ``events_total{outcome}`` and
    ``rm_case_timeline.outcome`` (SPEC §5, §7)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    PARKED = "parked"
    REFUSED = "refused"
    DEAD_LETTERED = "dead_lettered"
