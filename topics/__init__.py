"""The one registry of claimdesk's Kafka topics (SPEC §1)."""

from topics.registry import (
    ALERTS,
    CASE_REPORTED,
    COMPLAINT_FILED,
    CUSTOMER_NOTICES,
    DISPATCH_ASSIGNED,
    DISPATCH_REQUESTED,
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    PAYOUT_APPROVED,
    REVIEW_COMPLETED,
    TopicNames,
    TopicSpec,
    all_topics,
    dlt_name,
)

__all__ = [
    "ALERTS",
    "CASE_REPORTED",
    "COMPLAINT_FILED",
    "CUSTOMER_NOTICES",
    "DISPATCH_ASSIGNED",
    "DISPATCH_REQUESTED",
    "INPUT_TOPICS",
    "OUTPUT_TOPICS",
    "PAYOUT_APPROVED",
    "REVIEW_COMPLETED",
    "TopicNames",
    "TopicSpec",
    "all_topics",
    "dlt_name",
]
