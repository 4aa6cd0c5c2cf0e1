"""The SLA sweeper (SPEC §4.4): marks warnings and breaches of running clocks.

Safe with any number of sweepers: rows are claimed with ``FOR UPDATE SKIP LOCKED`` and
each mark is set only where it is still empty, so every warning and breach is recorded
(and counted in metrics) exactly once. The marks are the deterministic instants
(``warn_at``/``due_at``), not the sweep time; ``breach_seen_at`` keeps the sweep time
for the "breaches in the last 15 minutes" alert.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.metrics import Metrics

_SWEEP = """
WITH due AS (
    SELECT subject_type, subject_id, clock,
           warned_at IS NULL AND warn_at <= %(now)s AS warn,
           breached_at IS NULL AND due_at <= %(now)s AS breach
    FROM sla_clocks
    WHERE stopped_at IS NULL AND paused_since IS NULL AND warn_at <= %(now)s
      AND ((warned_at IS NULL AND warn_at <= %(now)s) OR (breached_at IS NULL AND due_at <= %(now)s))
    ORDER BY warn_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE sla_clocks c SET
    warned_at = CASE WHEN due.warn THEN c.warn_at ELSE c.warned_at END,
    breached_at = CASE WHEN due.breach THEN c.due_at ELSE c.breached_at END,
    breach_seen_at = CASE WHEN due.breach THEN %(now)s ELSE c.breach_seen_at END
FROM due
WHERE c.subject_type = due.subject_type AND c.subject_id = due.subject_id AND c.clock = due.clock
RETURNING c.clock, due.warn, due.breach
"""


@dataclass
class SweepResult:
    """Marks set by one sweep, per clock."""

    warned: Counter[str] = field(default_factory=Counter)
    breached: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Rows changed."""
        return sum(self.warned.values()) + sum(self.breached.values())


async def sweep_clocks(conn: Any, now: datetime, limit: int = 2000) -> SweepResult:
    """Mark due warnings/breaches in the caller's transaction (commit to release locks)."""
    cur = await conn.execute(_SWEEP, {"now": now, "limit": limit})
    result = SweepResult()
    for clock, warn, breach in await cur.fetchall():
        if warn:
            result.warned[clock] += 1
        if breach:
            result.breached[clock] += 1
    return result


def count_sweep(metrics: Metrics, result: SweepResult) -> None:
    """Add a committed sweep to the counters."""
    for clock, n in result.warned.items():
        metrics.sla_warnings_total.labels(clock=clock).inc(n)
    for clock, n in result.breached.items():
        metrics.sla_breaches_total.labels(clock=clock).inc(n)
