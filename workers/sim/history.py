"""Simulated history for ``claimdesk up`` (SPEC §9): the last hours of traffic, in the past.

``up`` publishes this first so that surge baselines are warm before live traffic and the
demo surge begin; the monitor judges surges only once the history is consumed
(``surge_hold``). Steps of history cases that would lie in the future (a survey due after
"now") are left out: history is what already happened, at the live rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from workers.sim.batch import generate
from workers.sim.model import SimRun


def history_run(now: datetime, span: timedelta, rate_per_s: float, *, seed: int,
                adjusters: Iterable[Mapping[str, str]]) -> SimRun:
    """``rate_per_s × span`` cases reported over ``[now − span, now)``, events up to ``now``."""
    if span <= timedelta(0) or rate_per_s <= 0:
        raise ValueError("history needs a positive span and rate")
    n_cases = max(1, round(rate_per_s * span.total_seconds()))
    run = generate(n_cases, seed=seed, start=now - span, spread=span, adjusters=adjusters)
    past = [e for e in run.events if e.data_time < now]
    return dataclasses.replace(run, events=past)


def history_cases(run: SimRun) -> int:
    """Distinct case.reported events of ``run`` (what the surge hold waits for)."""
    return len({e.event_id for e in run.events if e.topic == "case-reported"})
