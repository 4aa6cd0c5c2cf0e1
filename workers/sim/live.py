"""Live mode: continuous insurer traffic for ``claimdesk up``, data time ≈ now."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from workers.sim import people
from workers.sim.batch import find_city
from workers.sim.model import CST, SimEvent, Step
from workers.sim.plan import Planner
from workers.sim.publish import TopicNamer, make_producer, send
from workers.sim.roster import adjusters_by_city, roster
from workers.sim.settle import unsettle

log = logging.getLogger(__name__)

#: Roster seed of live mode when no seed is given (``claimdesk up`` loads ``roster(0)``).
DEFAULT_ROSTER_SEED = 0
SURGE_EVERY_S = (100.0, 140.0)  # a burst every ~2 minutes
SURGE_SIZE = (60, 120)  # cases per burst
SURGE_SPAN_S = 60.0  # a burst arrives within one minute
MAX_CATCH_UP_S = 5.0


def wall_now() -> datetime:
    """The wall clock in +08:00."""
    return datetime.now(CST)


class LiveSim:
    """Schedules cases and their lifecycle steps against a monotonic clock (no I/O).

    Cases arrive as a Poisson process of ``rate_per_s``; a case's step due
    ``offset`` after its report (simulated time) is due ``offset / time_scale``
    real seconds after it arrived. Rendered events carry the wall-clock
    instant given to :meth:`tick` as their data timestamp. ``now`` is the
    monotonic start time (default ``time.monotonic()``). ``seed`` picks the
    roster (default ``roster(DEFAULT_ROSTER_SEED)``) and, with ``salt``, the
    traffic; :func:`run_live` salts with the start time so a restart with the
    same seed never re-sends the same ids (they would all count as duplicates).
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        surge_city: str | None,
        time_scale: float = 360.0,
        seed: int | None = None,
        adjusters: Iterable[Mapping[str, str]] | None = None,
        now: float | None = None,
        salt: str = "",
        bursts: int | None = None,
    ) -> None:
        if rate_per_s < 0 or not math.isfinite(rate_per_s):
            raise ValueError("rate_per_s must be a finite number >= 0")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.rng = random.Random(None if seed is None else f"live:{seed}:{salt}")
        rows = adjusters if adjusters is not None else roster(
            DEFAULT_ROSTER_SEED if seed is None else seed)
        self.planner = Planner(self.rng, people.run_tag(self.rng), adjusters_by_city(rows))
        self.rate = rate_per_s
        self.scale = time_scale
        self.city = find_city(surge_city) if surge_city else None
        self._seq = itertools.count()
        self._due: list[tuple[float, int, Step]] = []
        self._burst: deque[float] = deque()
        now = time.monotonic() if now is None else now
        self.next_case = now + self._gap()
        self.next_surge = now + self.rng.uniform(20.0, 40.0) if self.city else math.inf
        #: bursts still to come (None: endless); ``claimdesk up`` sends one demo burst, so
        #: its surge resolves once the burst is over
        self.bursts_left = bursts

    def _gap(self) -> float:
        return self.rng.expovariate(self.rate) if self.rate > 0 else math.inf

    def next_wake(self) -> float:
        """Monotonic time at which :meth:`tick` next has something to do."""
        head = self._due[0][0] if self._due else math.inf
        burst = self._burst[0] if self._burst else math.inf
        return min(head, burst, self.next_case, self.next_surge)

    @property
    def pending(self) -> int:
        """Planned steps not yet due."""
        return len(self._due)

    def tick(self, now: float, wall: datetime) -> list[SimEvent]:
        """Plan arrivals up to ``now`` and render every step due by then at ``wall``.

        Arrivals more than :data:`MAX_CATCH_UP_S` overdue (a paused process) are
        skipped rather than published as a flood.
        """
        self.next_case = max(self.next_case, now - MAX_CATCH_UP_S)
        while self.next_case <= now:
            self._start_case(self.next_case, wall, surge=False)
            self.next_case += self._gap()
        if self.next_surge <= now and self.city is not None:
            size = self.rng.randint(*SURGE_SIZE)
            self._burst.extend(sorted(now + self.rng.uniform(0, SURGE_SPAN_S) for _ in range(size)))
            self.next_surge = now + self.rng.uniform(*SURGE_EVERY_S)
            if self.bursts_left is not None:
                self.bursts_left -= 1
                if self.bursts_left <= 0:
                    self.next_surge = math.inf
        while self._burst and self._burst[0] <= now:
            self._start_case(self._burst.popleft(), wall, surge=True)
        out: list[SimEvent] = []
        while self._due and self._due[0][0] <= now:
            _, _, step = heapq.heappop(self._due)
            out.append(step.render(wall))
        return out

    def _start_case(self, arrived: float, wall: datetime, *, surge: bool) -> None:
        city = self.city if surge else None
        plan = self.planner.case(wall, city, weather=surge and self.rng.random() < 0.5)
        if self.city is not None and plan.city == self.city.name and plan.cat_delta:
            unsettle(plan)  # a surge may fast-track it: its payout id is not knowable
        for step in plan.steps:
            step.lag = timedelta(0)
            due = arrived + step.offset.total_seconds() / self.scale
            heapq.heappush(self._due, (due, next(self._seq), step))


def run_live(
    bootstrap: str,
    names: TopicNamer,
    *,
    rate_per_s: float,
    surge_city: str | None,
    stop: threading.Event,
    time_scale: float = 360.0,
    seed: int | None = None,
    adjusters: Iterable[Mapping[str, str]] | None = None,
    bursts: int | None = None,
    start: threading.Event | None = None,
) -> int:
    """Publish live traffic until ``stop`` is set; returns the number of records sent.

    ``bursts``: how many surge bursts (None: every ~2 minutes, endlessly). ``start``: wait
    for it before sending anything (``claimdesk up`` waits for its history to be consumed).

    Every data timestamp is the wall-clock instant (+08:00) of publishing; step
    durations are divided by ``time_scale`` (360: one simulated hour takes 10
    s). With ``surge_city`` a burst of 60–120 cases in that city arrives within
    one minute every ~2 minutes. Returns within ~0.25 s of ``stop`` plus a
    final flush (≤ 5 s). Records the broker refuses are retried a second later.
    """
    while start is not None and not start.is_set():
        if stop.wait(0.25):
            return 0
    sim = LiveSim(rate_per_s=rate_per_s, surge_city=surge_city, time_scale=time_scale,
                  seed=seed, adjusters=adjusters, now=time.monotonic(), salt=str(time.time_ns()),
                  bursts=bursts)
    from kafka.errors import KafkaError

    producer = make_producer(bootstrap, client_id="claimdesk-simulator-live")
    try:
        return _loop(sim, lambda event: send(producer, names, event), stop, (KafkaError,))
    finally:
        producer.flush(timeout=5)
        producer.close(timeout=5)


def _loop(
    sim: LiveSim,
    publish: Callable[[SimEvent], object],
    stop: threading.Event,
    errors: tuple[type[Exception], ...],
    clock: Callable[[], float] = time.monotonic,
) -> int:
    sent, failed_at = 0, -math.inf
    retry: deque[SimEvent] = deque()
    while not stop.is_set():
        now = clock()
        retry.extend(sim.tick(now, wall_now()))
        while retry and not stop.is_set():
            try:
                publish(retry[0])
            except errors as exc:
                if now - failed_at > 30:
                    log.warning("simulator cannot publish (%s); retrying", type(exc).__name__)
                failed_at = now
                break
            retry.popleft()
            sent += 1
        wake = 1.0 if retry else sim.next_wake() - clock()
        stop.wait(min(max(wake, 0.0), 0.25))
    log.info("live simulator stopped after %d records (%d pending steps)", sent, sim.pending)
    return sent
