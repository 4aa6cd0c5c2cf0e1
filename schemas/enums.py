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
    "Category",
    "Channel",
    "Decision",
    "DispatchStatus",
    "Line",
    "Relation",
    "ScopeKey",
    "Severity",
    "Skill",
    "Stage",
    "Task",
    "Urgency",
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
    Stage.COMPLAINT: (Decision.UPHELD, Decision.DISMISSED),
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
