"""The SLA sweeper's metrics (SPEC §4.4); its SQL is in ``workers/store/clocks.py``."""

from __future__ import annotations

from infra.metrics import Metrics
from workers.store.clocks import SweepResult, sweep_clocks

__all__ = ["SweepResult", "count_sweep", "sweep_clocks"]


def count_sweep(metrics: Metrics, result: SweepResult) -> None:
    """Add a committed sweep to the counters."""
    for clock, n in result.warned.items():
        metrics.sla_warnings_total.labels(clock=clock).inc(n)
    for clock, n in result.breached.items():
        metrics.sla_breaches_total.labels(clock=clock).inc(n)
