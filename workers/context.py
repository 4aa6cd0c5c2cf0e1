"""What handlers need besides the connection: policy, topic names, an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from topics import TopicNames


def utc_now() -> datetime:
    """The real wall clock (tests inject their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class HandlerContext:
    """Read-only dependencies of the batch handlers."""

    names: TopicNames
    policy: Any = None  # workers.rules.policy.PolicyBook
    clock: Callable[[], datetime] = field(default=utc_now)
    #: the process's metrics bundle (None in tests that drive handlers directly); handlers
    #: count domain events (callbacks_total, escalations_total) here — a batch retried
    #: after a transient failure may count twice, which a rate() never notices
    metrics: Any = None
