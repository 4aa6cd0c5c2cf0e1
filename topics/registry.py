"""Topic names, keys and settings (SPEC §1); the prefix is the only thing a deployment changes.

``INPUT_TOPICS`` is the contract: every input topic, created by ``claimdesk topics
create`` with its ``.DLT``. A worker consumes only the input topics that have a
registered handler (``workers.bootstrap.handlers``), so a topic can exist before the
feature that handles it.
"""

from __future__ import annotations

from dataclasses import dataclass

CASE_REPORTED = "case-reported"
DISPATCH_REQUESTED = "dispatch-requested"
REVIEW_COMPLETED = "review-completed"
COMPLAINT_FILED = "complaint-filed"
DISPATCH_ASSIGNED = "dispatch-assigned"
PAYOUT_APPROVED = "payout-approved"
ALERTS = "alerts"
# v2
PAYMENT_SETTLED = "payment-settled"
CASE_WITHDRAWN = "case-withdrawn"
CALLBACK_COMPLETED = "callback-completed"
CATASTROPHE_DECLARED = "catastrophe-declared"
CUSTOMER_NOTICES = "customer-notices"
CALLBACK_REQUESTED = "callback-requested"
ESCALATIONS = "escalations"

#: The v1 input topics (their order is relied on by tests that pick topics by index).
V1_INPUT_TOPICS: tuple[str, ...] = (
    CASE_REPORTED, DISPATCH_REQUESTED, REVIEW_COMPLETED, COMPLAINT_FILED
)
INPUT_TOPICS: tuple[str, ...] = V1_INPUT_TOPICS + (
    PAYMENT_SETTLED, CASE_WITHDRAWN, CALLBACK_COMPLETED, CATASTROPHE_DECLARED
)
OUTPUT_TOPICS: tuple[str, ...] = (
    DISPATCH_ASSIGNED, PAYOUT_APPROVED, CUSTOMER_NOTICES, CALLBACK_REQUESTED, ESCALATIONS, ALERTS
)

_WEEK_MS = 7 * 24 * 3600 * 1000
_MONTH_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic as created by ``claimdesk topics create``."""

    base: str
    name: str
    partitions: int
    key: str
    retention_ms: int

    @property
    def configs(self) -> dict[str, str]:
        """Topic configs handed to the admin client."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


def dlt_name(base: str) -> str:
    """The dead-letter topic of an input topic (unprefixed base name)."""
    return f"{base}.DLT"


_KEYS = {
    CASE_REPORTED: "case_id",
    DISPATCH_REQUESTED: "case_id",
    REVIEW_COMPLETED: "case_id, else complaint_id",
    COMPLAINT_FILED: "case_id, else complaint_id",
    DISPATCH_ASSIGNED: "case_id",
    PAYOUT_APPROVED: "case_id",
    ALERTS: "alert_id",
    PAYMENT_SETTLED: "case_id",
    CASE_WITHDRAWN: "case_id",
    CALLBACK_COMPLETED: "case_id, else complaint_id",
    CATASTROPHE_DECLARED: "cat_code",
    CUSTOMER_NOTICES: "case_id, else complaint_id",
    CALLBACK_REQUESTED: "case_id, else complaint_id",
    ESCALATIONS: "case_id, else complaint_id",
}

#: CloudEvents ``type`` carried by each topic (SPEC §1); DLTs carry the original bytes.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    CASE_REPORTED: ("case.reported",),
    DISPATCH_REQUESTED: ("dispatch.requested",),
    REVIEW_COMPLETED: ("review.completed",),
    COMPLAINT_FILED: ("complaint.filed",),
    PAYMENT_SETTLED: ("payment.settled",),
    CASE_WITHDRAWN: ("case.withdrawn",),
    CALLBACK_COMPLETED: ("callback.completed",),
    CATASTROPHE_DECLARED: ("catastrophe.declared",),
    DISPATCH_ASSIGNED: ("dispatch.assigned",),
    PAYOUT_APPROVED: ("payout.approved",),
    CUSTOMER_NOTICES: ("notice.requested",),
    CALLBACK_REQUESTED: ("callback.requested",),
    ESCALATIONS: ("escalation.raised",),
    ALERTS: ("alert.opened", "alert.resolved"),
}


def key_of(base: str) -> str:
    """The Kafka key of a topic as SPEC §1 states it (``"case_id, else complaint_id"``)."""
    return _KEYS[base]


@dataclass(frozen=True)
class TopicNames:
    """Resolves base names to the deployment's prefixed names."""

    prefix: str = ""
    partitions: int = 4

    def name(self, base: str) -> str:
        """Prefixed name of a base topic (``case-reported`` → ``<prefix>case-reported``)."""
        return f"{self.prefix}{base}"

    def dlt(self, base: str) -> str:
        """Prefixed name of an input topic's dead-letter topic."""
        return self.name(dlt_name(base))

    def base_of(self, name: str) -> str:
        """Inverse of :meth:`name` for a registered topic; raises ``KeyError`` otherwise."""
        for spec in all_topics(self):
            if spec.name == name:
                return spec.base
        raise KeyError(name)


def all_topics(names: TopicNames) -> list[TopicSpec]:
    """Every topic claimdesk needs: inputs, their DLTs, and outputs."""
    specs = [
        TopicSpec(t, names.name(t), names.partitions, _KEYS[t], _WEEK_MS) for t in INPUT_TOPICS
    ]
    specs += [
        TopicSpec(dlt_name(t), names.dlt(t), names.partitions, "original key", _MONTH_MS)
        for t in INPUT_TOPICS
    ]
    specs += [
        TopicSpec(t, names.name(t), names.partitions, _KEYS[t], _WEEK_MS) for t in OUTPUT_TOPICS
    ]
    return specs
