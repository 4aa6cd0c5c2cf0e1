"""SLA clock arithmetic (SPEC §4.4): THE reference for every clock row.

All instants are data time except the sweeper's ``now``. ``due_at`` = start +
window + paused time; ``warn_at`` = start + warn offset (warn_fraction × window)
+ paused time; ``breach_at`` = ``due_at``. A mark is *reached* when the clock's
running (unpaused) time strictly exceeds the mark's share of the window: a
decision exactly at ``due_at`` is on time, one microsecond later is a breach.

Marks are settled at every data-time transition (pause, stop, extend), so the
result never depends on when a sweeper happened to run: a mark that a sweeper
set ahead of the data (``warned_at``/``breached_at`` not before a pause or stop
that arrives afterwards) is withdrawn with its ``breach_seen_at``; a mark
reached before a pause stays fixed at its true instant even though later pauses
move ``warn_at`` (SPEC v2 "exact").

:func:`apply_op` and :func:`sweep` define what a ``sla_clocks`` row becomes; the
set-based SQL in ``workers/handlers/clock_sql.py`` and the sweeper are tested
equal to them on random operation sequences
(``tests/integration/test_clock_rules_equal_sql.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from schemas.enums import Clock as Clock  # the contract's names; rules add no copy
from workers.rules.policy import Policy


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
    window: timedelta = getattr(sla, _WINDOW_FIELD[clock])
    return window


#: the policy's window field of each clock but survey (a constant map: window_for used to
#: build this dict on every call, once per clock op)
_WINDOW_FIELD: dict[Clock, str] = {
    Clock.DISPATCH: "dispatch",
    Clock.INITIAL_REVIEW: "initial_review",
    Clock.SECOND_REVIEW: "second_review",
    Clock.JOINT_REVIEW: "joint_review",
    Clock.DETERMINATION: "determination",
    Clock.COMPLAINT: "complaint",
    Clock.PAYMENT: "payment",
    Clock.CALLBACK: "callback",
}


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


class ClockOpKind(StrEnum):
    """What a :class:`ClockOp` does to one clock (a missing or stopped clock: no-op,
    except ``start`` creates and ``stop_earliest`` may move an earlier stop)."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    #: stop at ``at``; a clock already stopped later and never paused moves its stop
    #: back to ``at`` (the earliest stop wins whatever the arrival order)
    STOP_EARLIEST = "stop_earliest"
    #: new window/warn offset from the same start (complaint extension, SPEC §4.7):
    #: marks reached before ``at`` stay, unreached ones follow the new window
    EXTEND = "extend"


@dataclass(frozen=True)
class ClockTimes:
    """Immutable state of one clock: the timing columns of its ``sla_clocks`` row."""

    started_at: datetime
    window: timedelta
    warn: timedelta
    paused_total: timedelta = timedelta(0)
    paused_since: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    #: wall-clock time the sweeper first saw the breach (only for the 15-min alert)
    breach_seen_at: datetime | None = None

    @property
    def paused(self) -> bool:
        """True while the clock is paused (documents pending)."""
        return self.paused_since is not None

    @property
    def stopped(self) -> bool:
        """True once the clock is stopped."""
        return self.stopped_at is not None

    @property
    def due_at(self) -> datetime:
        """start + window + paused time so far (grows while paused)."""
        return self.started_at + self.window + self.paused_total

    @property
    def warn_at(self) -> datetime:
        """start + warn offset + paused time so far."""
        return self.started_at + self.warn + self.paused_total

    @property
    def breach_at(self) -> datetime:
        """Same instant as :attr:`due_at`."""
        return self.due_at

    @property
    def marks(self) -> Marks:
        """The marks recorded on this value."""
        return Marks(self.warned_at, self.breached_at)


def warn_offset(window: timedelta, warn_fraction: Decimal) -> timedelta:
    """``warn_fraction`` × ``window``, floored to the microsecond (exact, no float).

    Memoised: a deployment has a handful of (window, fraction) pairs and handlers ask for
    one per clock op (the Fraction arithmetic was ~2 % of a worker's CPU). Equal keys
    (``Decimal("0.8")`` and ``Decimal("0.80")``) have equal exact products, so sharing
    an entry is exact too."""
    try:
        return _warn_offset_memo(window, warn_fraction)
    except TypeError:  # an unhashable (signalling NaN) fraction: let the arithmetic say
        return _warn_offset_exact(window, warn_fraction)


def _warn_offset_exact(window: timedelta, warn_fraction: Decimal) -> timedelta:
    micros = window // timedelta(microseconds=1)
    return timedelta(microseconds=int(micros * Fraction(warn_fraction)))


_warn_offset_memo = functools.lru_cache(maxsize=4096)(_warn_offset_exact)


def start_clock(started_at: datetime, window: timedelta, warn_fraction: Decimal) -> ClockTimes:
    """A new running clock; raises ``ValueError`` for a non-positive window."""
    if window <= timedelta(0):
        raise ValueError("an SLA window must be positive")
    return ClockTimes(started_at, window, warn_offset(window, warn_fraction))


def pause(times: ClockTimes, at: datetime) -> ClockTimes:
    """Pause at ``at`` (data time), settling the marks reached before it.

    Pausing a paused or stopped clock changes nothing.
    """
    if times.paused or times.stopped:
        return times
    return replace(_settled(times, at), paused_since=at)


def resume(times: ClockTimes, at: datetime) -> ClockTimes:
    """Resume at ``at``, adding the paused time (never negative).

    Resuming a running or stopped clock changes nothing.
    """
    if times.paused_since is None or times.stopped:
        return times
    gap = max(at - times.paused_since, timedelta(0))
    return replace(times, paused_total=times.paused_total + gap, paused_since=None)


def stop(times: ClockTimes, at: datetime) -> ClockTimes:
    """Stop at ``at``: keep only the marks strictly before it (and before an open pause).

    An open pause is closed first (its time counts as paused); the stop is never
    recorded before the start. Stopping a stopped clock changes nothing.
    """
    if times.stopped:
        return times
    settled = _settled(times, _limit(times, at))
    return replace(resume(settled, at), stopped_at=max(at, times.started_at))


def stop_earliest(times: ClockTimes, at: datetime) -> ClockTimes:
    """:func:`stop`, or move the stop of a never-paused stopped clock back to ``at``."""
    if times.stopped_at is None:
        return stop(times, at)
    at_or_start = max(at, times.started_at)
    if times.paused_total or times.stopped_at <= at_or_start:
        return times
    return replace(_settled(times, at), stopped_at=at_or_start)


def extend(times: ClockTimes, at: datetime, window: timedelta,
           warn: timedelta | None = None) -> ClockTimes:
    """Give the clock a new ``window`` at ``at`` (a complaint extension, SPEC §4.7).

    Marks reached strictly before ``at`` (and before an open pause) stay; the unreached
    ones follow the new window (a mark the sweeper set ahead of the data is taken back).
    ``warn`` defaults to the same share of the new window. A stopped clock stays as it
    is; raises ``ValueError`` for a non-positive window.
    """
    if window <= timedelta(0):
        raise ValueError("an SLA window must be positive")
    if warn is None:
        warn = _scaled(times.warn, times.window, window)
    if times.stopped:
        return times
    return replace(_settled(times, _limit(times, at)), window=window, warn=warn)


def _scaled(warn: timedelta, old: timedelta, new: timedelta) -> timedelta:
    us = timedelta(microseconds=1)
    return timedelta(microseconds=int(Fraction(warn // us, old // us) * (new // us)))


def sweep(times: ClockTimes, now: datetime) -> ClockTimes:
    """What one sweep at ``now`` records on a running clock (nothing on a paused one).

    Each mark is recorded once, at its deterministic instant; a new breach also
    records ``now`` as ``breach_seen_at``.
    """
    if times.paused or times.stopped:
        return times
    warned = times.warned_at or (times.warn_at if times.warn_at < now else None)
    if times.breached_at is None and times.due_at < now:
        return replace(times, warned_at=warned, breached_at=times.due_at, breach_seen_at=now)
    return replace(times, warned_at=warned)


def marks_due(times: ClockTimes, now: datetime) -> Marks:
    """All marks reached by ``now`` (the sweeper's instant), including earlier ones.

    A paused clock makes no progress, so nothing new is reached while paused.
    The returned instants are deterministic (the 80 % / 100 % instants), not
    ``now``; record each one only where the stored value is still null.
    """
    return _settle(times, _limit(times, now))


def final_marks_on_stop(times: ClockTimes, stopped_at: datetime) -> Marks:
    """The marks a clock keeps when it stops at ``stopped_at`` (data time).

    Marks strictly before the stop (and before any open pause) are kept;
    later ones are never set and any set ahead of the data are withdrawn, so
    replays give the same result.
    """
    return stop(times, stopped_at).marks


_ZERO = timedelta(0)
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ClockOp:
    """One change to one clock, in the order the batch decided it.

    ``window``/``warn`` matter for ``start`` and ``extend`` only (build ``warn``
    with :func:`warn_offset`; an ``extend`` without ``warn`` keeps the clock's share of
    the window); ``insurer``/``line``/``province`` label a new clock.
    """

    op: ClockOpKind
    subject_type: str
    subject_id: str
    clock: str
    at: datetime
    window: timedelta = timedelta(0)
    warn: timedelta = timedelta(0)
    insurer: str | None = None
    line: str | None = None
    province: str | None = None

    def __post_init__(self) -> None:
        op = self.op
        if type(op) is not ClockOpKind:  # a plain "stop" is accepted (the enum call is
            op = ClockOpKind(op)  # skipped for members: one clock op per clock change)
            object.__setattr__(self, "op", op)
        if op is not ClockOpKind.START and op is not ClockOpKind.EXTEND:
            return
        # a start without warn would warn at once; an extend without one keeps the share
        low = _ZERO if op is ClockOpKind.EXTEND else _ONE_MICROSECOND
        if not (self.window > _ZERO and low <= self.warn <= self.window):
            raise ValueError("an SLA window must be positive and hold its warn offset")

    @property
    def key(self) -> tuple[str, str, str]:
        """(subject_type, subject_id, clock): the row this op changes."""
        return (self.subject_type, self.subject_id, self.clock)


def apply_op(times: ClockTimes | None, op: ClockOp) -> ClockTimes | None:
    """The clock after ``op`` (``None``: the clock does not exist)."""
    if times is None:
        if op.op is ClockOpKind.START:
            return ClockTimes(op.at, op.window, op.warn)
        return None
    match op.op:
        case ClockOpKind.START:
            return times  # a second start is a no-op
        case ClockOpKind.PAUSE:
            return pause(times, op.at)
        case ClockOpKind.RESUME:
            return resume(times, op.at)
        case ClockOpKind.STOP:
            return stop(times, op.at)
        case ClockOpKind.STOP_EARLIEST:
            return stop_earliest(times, op.at)
        case ClockOpKind.EXTEND:
            return extend(times, op.at, op.window, op.warn or None)


def _limit(times: ClockTimes, at: datetime) -> datetime:
    """Marks can only have been reached before ``at`` and before an open pause."""
    return at if times.paused_since is None else min(at, times.paused_since)


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


def _settled(times: ClockTimes, limit: datetime) -> ClockTimes:
    """``times`` with its marks settled at ``limit``; a withdrawn breach loses
    ``breach_seen_at`` (the 15-minute alert must agree with the views)."""
    marks = _settle(times, limit)
    kept = times.breached_at is not None and times.breached_at < limit
    return replace(times, warned_at=marks.warned_at, breached_at=marks.breached_at,
                   breach_seen_at=times.breach_seen_at if kept else None)


def _mark(recorded: datetime | None, computed: datetime, limit: datetime) -> datetime | None:
    if recorded is not None and recorded < limit:
        return recorded
    return computed if computed < limit else None
