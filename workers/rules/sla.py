"""SLA clock arithmetic (SPEC §4.4): windows, pauses, warn/breach instants.

All instants are data time. ``due_at`` = start + window + paused time;
``warn_at`` = start + warn_fraction × window + paused time; ``breach_at`` =
``due_at``. A mark is *reached* when the clock's running (unpaused) time
strictly exceeds the mark's share of the window: a decision exactly at
``due_at`` is on time, one microsecond later is a breach.

Marks are settled at every data-time transition (pause, stop), so the result
never depends on when a sweeper happened to run: a mark that a sweeper set
ahead of the data (``warned_at``/``breached_at`` later than a pause or stop
that arrives afterwards) is withdrawn, a mark reached before a pause stays
fixed at its true instant even though later pauses move ``warn_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from workers.rules.policy import Policy


class Clock(StrEnum):
    """SLA clock names as stored in ``rm_sla_clocks.clock``."""

    DISPATCH = "dispatch"
    SURVEY = "survey"
    INITIAL_REVIEW = "initial_review"
    SECOND_REVIEW = "second_review"
    JOINT_REVIEW = "joint_review"
    DETERMINATION = "determination"
    COMPLAINT = "complaint"
    PAYMENT = "payment"  # v2: approved_at → earliest paid settlement (window: pay_by)
    CALLBACK = "callback"  # v2: requested → result (§4.10)


def window_for(clock: Clock, policy: Policy, urgency: str | None = None) -> timedelta:
    """The window of ``clock`` under ``policy``.

    ``urgency`` (``"urgent"`` or ``"normal"``) is required for the survey
    clock and ignored otherwise; raises ``ValueError`` when it is missing or bad.
    """
    sla = policy.sla
    if clock is Clock.SURVEY:
        if urgency == "urgent":
            return sla.survey_urgent
        if urgency == "normal":
            return sla.survey_normal
        raise ValueError("the survey clock needs urgency 'urgent' or 'normal'")
    windows = {
        Clock.DISPATCH: sla.dispatch,
        Clock.INITIAL_REVIEW: sla.initial_review,
        Clock.SECOND_REVIEW: sla.second_review,
        Clock.JOINT_REVIEW: sla.joint_review,
        Clock.DETERMINATION: sla.determination,
        Clock.COMPLAINT: sla.complaint,
        Clock.PAYMENT: sla.payment,
        Clock.CALLBACK: sla.callback,
    }
    return windows[clock]


@dataclass(frozen=True)
class Marks:
    """Warn and breach instants of a clock (``None``: not reached)."""

    warned_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def warn(self) -> bool:
        """True when the warning instant is reached."""
        return self.warned_at is not None

    @property
    def breach(self) -> bool:
        """True when the breach instant is reached."""
        return self.breached_at is not None


@dataclass(frozen=True)
class ClockTimes:
    """Immutable timing state of one running (or paused) clock."""

    started_at: datetime
    window: timedelta
    warn_fraction: Decimal = Decimal("0.8")
    paused_total: timedelta = timedelta(0)
    paused_since: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def paused(self) -> bool:
        """True while the clock is paused (documents pending)."""
        return self.paused_since is not None

    @property
    def due_at(self) -> datetime:
        """start + window + paused time so far (grows while paused)."""
        return self.started_at + self.window + self.paused_total

    @property
    def warn_at(self) -> datetime:
        """start + warn_fraction × window + paused time so far."""
        return self.started_at + _fraction_of(self.window, self.warn_fraction) + self.paused_total

    @property
    def breach_at(self) -> datetime:
        """Same instant as :attr:`due_at`."""
        return self.due_at

    @property
    def marks(self) -> Marks:
        """The marks recorded on this value."""
        return Marks(self.warned_at, self.breached_at)


def start_clock(started_at: datetime, window: timedelta, warn_fraction: Decimal) -> ClockTimes:
    """A new running clock; raises ``ValueError`` for a non-positive window."""
    if window <= timedelta(0):
        raise ValueError("an SLA window must be positive")
    return ClockTimes(started_at=started_at, window=window, warn_fraction=warn_fraction)


def pause(times: ClockTimes, at: datetime) -> ClockTimes:
    """Pause at ``at`` (data time), settling the marks reached before it.

    Pausing a paused clock changes nothing.
    """
    if times.paused:
        return times
    settled = _settle(times, at)
    return replace(
        times, paused_since=at, warned_at=settled.warned_at, breached_at=settled.breached_at
    )


def resume(times: ClockTimes, at: datetime) -> ClockTimes:
    """Resume at ``at``, adding the paused time (never negative).

    Resuming a running clock changes nothing.
    """
    if times.paused_since is None:
        return times
    gap = max(at - times.paused_since, timedelta(0))
    return replace(times, paused_total=times.paused_total + gap, paused_since=None)


def extend(times: ClockTimes, at: datetime, window: timedelta) -> ClockTimes:
    """Give the clock a new ``window`` at ``at`` (a complaint extension, SPEC §4.7).

    Marks reached strictly before ``at`` stay (settled as a pause settles them); the
    unreached ones are recomputed on the new window (so a mark the sweeper set ahead of
    the data is taken back). Raises ``ValueError`` for a non-positive window.
    """
    if window <= timedelta(0):
        raise ValueError("an SLA window must be positive")
    limit = at if times.paused_since is None else min(at, times.paused_since)
    settled = _settle(times, limit)
    return replace(times, window=window, warned_at=settled.warned_at,
                   breached_at=settled.breached_at)


def marks_due(times: ClockTimes, now: datetime) -> Marks:
    """All marks reached by ``now`` (the sweeper's instant), including earlier ones.

    A paused clock makes no progress, so nothing new is reached while paused.
    The returned instants are deterministic (the 80 % / 100 % instants), not
    ``now``; record each one only where the stored value is still null.
    """
    limit = now if times.paused_since is None else min(now, times.paused_since)
    return _settle(times, limit)


def final_marks_on_stop(times: ClockTimes, stopped_at: datetime) -> Marks:
    """The marks a clock keeps when it stops at ``stopped_at`` (data time).

    Marks strictly before the stop (and before any open pause) are kept;
    later ones are never set and any set ahead of the data are withdrawn, so
    replays give the same result.
    """
    limit = stopped_at if times.paused_since is None else min(stopped_at, times.paused_since)
    return _settle(times, limit)


def _fraction_of(window: timedelta, fraction: Decimal) -> timedelta:
    micros = window // timedelta(microseconds=1)
    return timedelta(microseconds=int(micros * Fraction(fraction)))


def _settle(times: ClockTimes, limit: datetime) -> Marks:
    """Marks reached strictly before ``limit``.

    A recorded mark before ``limit`` stays (it may predate a pause, so it can
    be earlier than today's ``warn_at``); a recorded mark at or after
    ``limit`` was set ahead of the data and is recomputed.
    """
    return Marks(
        _mark(times.warned_at, times.warn_at, limit),
        _mark(times.breached_at, times.breach_at, limit),
    )


def _mark(recorded: datetime | None, computed: datetime, limit: datetime) -> datetime | None:
    if recorded is not None and recorded < limit:
        return recorded
    return computed if computed < limit else None
