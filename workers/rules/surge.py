"""Surge detection and catastrophe staffing advice (SPEC §4.5).

Per scope ((province, city) or insurer): tumbling windows on ``reported_at``,
an EWMA baseline B updated as each window closes (empty windows count 0,
frozen while a surge is open), a surge that opens at ``max(20, 3·B)``, turns
critical at ``max(40, 6·B)`` and resolves after 3 consecutive closed windows
below ``1.5·B``.

v2 warm-up: a window of a scope is *warm* iff it starts at least ``warmup``
(60 min) after the start of the window holding the scope's earliest
``reported_at``. A cold window opens no surge unless its count reaches the
cold-start floor (``cold_floor``, 100), which opens it as critical; so a fresh
deployment (B = 0 everywhere) does not alert on every scope.

Decision where the SPEC is silent: an empty window always counts as below
``1.5·B``; otherwise a surge opened while B = 0 (a new scope) could never
resolve. Thresholds compare ``count >= threshold`` exactly in Decimal. An
open surge is never escalated by a cold window (it is critical already when a
cold window opened it; a warning opened in a warm window cannot meet a later
cold window, since warmth only grows with time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from workers.rules.erlang import agents_needed
from workers.rules.policy import Policy

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)


class SurgeLevel(StrEnum):
    """Alert severity of a surge."""

    WARNING = "warning"
    CRITICAL = "critical"


class SurgeEvent(StrEnum):
    """What a count or a window close did to the scope's surge."""

    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class SurgeState:
    """Surge statistics of one scope."""

    baseline: Decimal = Decimal(0)
    level: SurgeLevel | None = None
    calm_windows: int = 0

    @property
    def open(self) -> bool:
        """True while a surge is open for the scope."""
        return self.level is not None


@dataclass(frozen=True)
class StaffingAdvice:
    """The ``staffing`` object of a surge alert."""

    adjusters_needed: int
    arrival_rate_per_hour: float
    mean_survey_hours: float
    target: str


def window_start(ts: datetime, window: timedelta = timedelta(minutes=10)) -> datetime:
    """Start of the tumbling window holding ``ts``, in ``ts``'s own offset.

    Windows are aligned in absolute time; for windows dividing an hour and
    whole-hour offsets (``+08:00``) they start at :00, :10, … local time.
    Raises ``ValueError`` for a naive timestamp.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("window_start needs a timezone-aware timestamp")
    elapsed = ts - _EPOCH
    return (_EPOCH + (elapsed // window) * window).astimezone(ts.tzinfo)


def window_closes_at(start: datetime, policy: Policy) -> datetime:
    """Wall-clock instant after which the window is closed (end + grace)."""
    return start + policy.surge.window + policy.surge.grace


def windows_to_close(last_closed: datetime, now: datetime, policy: Policy) -> list[datetime]:
    """Starts of the windows after ``last_closed`` (a window start) closed by ``now``.

    Includes empty windows, which must be closed with a count of 0.
    """
    window = policy.surge.window
    return [last_closed + window * i for i in range(1, n_windows_to_close(last_closed, now,
                                                                           policy) + 1)]


def n_windows_to_close(last_closed: datetime, now: datetime, policy: Policy) -> int:
    """How many windows :func:`windows_to_close` returns, without listing them (a scope
    whose first report is decades old has millions of empty windows to close)."""
    surge = policy.surge
    return max(0, (now - last_closed - surge.window - surge.grace) // surge.window)


def ewma(prev: Decimal, count: int, alpha: Decimal) -> Decimal:
    """``alpha·count + (1 − alpha)·prev``."""
    return alpha * count + (1 - alpha) * prev


def thresholds(baseline: Decimal, policy: Policy) -> tuple[Decimal, Decimal]:
    """(warning, critical) thresholds for a baseline: max(20, 3·B), max(40, 6·B)."""
    surge = policy.surge
    warning = max(Decimal(surge.warn_min), surge.warn_factor * baseline)
    critical = max(Decimal(surge.critical_min), surge.critical_factor * baseline)
    return warning, critical


def surge_level(count: int, baseline: Decimal, policy: Policy) -> SurgeLevel | None:
    """The level a window count reaches against ``baseline``, if any."""
    warning, critical = thresholds(baseline, policy)
    if count >= critical:
        return SurgeLevel.CRITICAL
    if count >= warning:
        return SurgeLevel.WARNING
    return None


def is_warm(start: datetime, first_window: datetime | None, policy: Policy) -> bool:
    """Is the window starting at ``start`` warm for a scope whose earliest report lies in
    the window starting at ``first_window``? (None: no report known yet, so cold.)"""
    return first_window is not None and start >= first_window + policy.surge.warmup


def cold_level(count: int, policy: Policy) -> SurgeLevel | None:
    """The level a count reaches in a cold window: critical at the floor, else none."""
    return SurgeLevel.CRITICAL if count >= policy.surge.cold_floor else None


def on_count(state: SurgeState, count: int, policy: Policy,
             warm: bool = True) -> tuple[SurgeState, SurgeEvent | None]:
    """An open window's count changed: open or escalate the surge if it crosses a threshold.

    Call only for windows still open; late events update statistics only. ``warm``:
    see :func:`is_warm`; a cold window uses :func:`cold_level` instead of the baseline.
    """
    level = surge_level(count, state.baseline, policy) if warm else cold_level(count, policy)
    if level is None:
        return state, None
    if state.level is None:
        return replace(state, level=level, calm_windows=0), SurgeEvent.OPENED
    if level is SurgeLevel.CRITICAL and state.level is SurgeLevel.WARNING:
        return replace(state, level=level), SurgeEvent.ESCALATED
    return state, None


def close_window(
    state: SurgeState, count: int, policy: Policy
) -> tuple[SurgeState, SurgeEvent | None]:
    """A window closed with ``count`` reports (0 when empty).

    No surge: the baseline moves (EWMA). Open surge: the baseline stays frozen
    and the calm-window streak grows or resets; at ``resolve_windows`` the
    surge resolves (the baseline resumes with the next close).
    """
    surge = policy.surge
    if not state.open:
        return replace(state, baseline=ewma(state.baseline, count, surge.alpha)), None
    calm = count == 0 or count < surge.resolve_factor * state.baseline
    streak = state.calm_windows + 1 if calm else 0
    if streak >= surge.resolve_windows:
        return replace(state, level=None, calm_windows=0), SurgeEvent.RESOLVED
    return replace(state, calm_windows=streak), None


#: Empty windows closed one by one (exactly as :func:`close_window`) before the rest of a
#: run decays the baseline in one power: a week of 10-minute windows.
EXACT_EMPTY_RUN = 1008


def close_empty_windows(
    state: SurgeState, n: int, policy: Policy
) -> tuple[SurgeState, SurgeEvent | None]:
    """``n`` consecutive empty windows closed: ``close_window(state, 0, policy)`` ``n`` times.

    An open surge resolves within ``resolve_windows`` of them (an empty window is calm);
    then the baseline decays by ``1 − alpha`` per window. Beyond :data:`EXACT_EMPTY_RUN`
    windows the decay is one Decimal power (equal to the repeated product up to the last
    digits of a baseline that small), so a report decades old does not make the monitor
    close millions of windows one at a time (the fuzz test's 1970 case stalled it).
    """
    event: SurgeEvent | None = None
    done = 0
    while done < n and (done < EXACT_EMPTY_RUN or state.open):  # open: ≤ resolve_windows
        state, step = close_window(state, 0, policy)
        event = event or step
        done += 1
    if done < n:
        state = replace(state, baseline=state.baseline * (1 - policy.surge.alpha) ** (n - done))
    return state, event


def arrival_rate_per_hour(count: int, window: timedelta) -> float:
    """A window's count scaled to an hourly rate (64 per 10 min → 384.0)."""
    return count * (_HOUR / window)


def staffing_advice(count: int, mean_survey_hours: float, policy: Policy) -> StaffingAdvice:
    """Adjusters needed so that the target share of surveys starts within the target wait."""
    staffing = policy.staffing
    rate = arrival_rate_per_hour(count, policy.surge.window)
    wait_hours = staffing.target_wait / _HOUR
    needed = agents_needed(rate, mean_survey_hours, float(staffing.target_fraction), wait_hours)
    percent = (staffing.target_fraction * 100).normalize()
    target = f"{percent:f}% of surveys start within {_format_hours(wait_hours)} h"
    return StaffingAdvice(needed, rate, mean_survey_hours, target)


def _format_hours(hours: float) -> str:
    return str(int(hours)) if hours == int(hours) else f"{hours:g}"
