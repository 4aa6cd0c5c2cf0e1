"""The one retry policy of every loop that talks to Postgres or the broker (issue 10).

Why one: each loop used to catch ``Exception`` and retry it at WARNING, so a bug (a typo,
a bad SQL statement) was retried forever and looked like an outage. Here:

- a **transient** failure (:func:`infra.db.is_transient`: connection loss, shutdown,
  serialization failure, ``TransientError`` from the broker wrappers) is retried quietly
  with capped exponential backoff: one WARNING at the first failure (and when the caller
  is told to stall, e.g. pause partitions), DEBUG after, one INFO on recovery; counted in
  ``claimdesk_transient_errors_total{component}``;
- anything else is a **bug**: :func:`report_bug` logs it at ERROR with its traceback
  (frames and exception class only — messages can quote values, i.e. PII) and counts it
  in ``claimdesk_unexpected_errors_total{component}``; :func:`retry_transient` re-raises it
  to the caller (the pipeline dead-letters the event), :func:`run_loop` waits the longest
  backoff before its next round (it must not spin nor stop a worker's other loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from infra.db import is_transient
from infra.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")
Stall = Callable[[bool], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with a cap; ``pause_after`` attempts before stalling."""

    first_s: float = 0.1
    max_s: float = 5.0
    pause_after: int = 5
    #: while retrying, wait at most this long for a pool connection: with Postgres down the
    #: pool's default wait (30 s) would make each attempt last 30 s, and partitions would
    #: pause only after minutes
    connect_timeout_s: float = 2.0

    def next(self, delay: float) -> float:
        """The delay after ``delay``."""
        return min(max(delay * 2, self.first_s), self.max_s)


def describe(exc: BaseException) -> str:
    """Exception class, SQLSTATE and the column/constraint it names — never the message
    text, which can quote values (PII)."""
    state = getattr(exc, "sqlstate", None)
    text = type(exc).__name__ + (f" (SQLSTATE {state})" if state else "")
    diag = getattr(exc, "diag", None)
    names = [n for n in (getattr(diag, "column_name", None), getattr(diag, "constraint_name", None))
             if n]
    return text + (f" on {', '.join(names)}" if names else "")


def report_bug(component: str, exc: BaseException, metrics: Metrics | None) -> None:
    """Log a non-transient failure at ERROR with its traceback (no message text) and count it."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: unexpected %s (a bug, not an outage):\n%s", component, describe(exc), frames)
    if metrics is not None:
        metrics.unexpected_errors_total.labels(component=component).inc()


async def retry_transient(action: Callable[[], Awaitable[T]], *, component: str, what: str,
                          metrics: Metrics | None, backoff: Backoff = Backoff(),
                          stall: Stall | None = None, sleep: Sleep = asyncio.sleep) -> T:
    """``await action()`` until it succeeds; transient failures retry, others raise.

    After ``backoff.pause_after`` failed attempts ``stall(True)`` is awaited once (e.g.
    pause the partitions; the consumer keeps polling), and ``stall(False)`` on success.
    """
    delay, attempt, stalled = backoff.first_s, 0, False
    while True:
        try:
            result = await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            if metrics is not None:
                metrics.transient_errors_total.labels(component=component).inc()
            level = logging.WARNING if attempt == 1 else logging.DEBUG
            log.log(level, "%s %s: transient failure (%s), attempt %d, retrying in %.1f s",
                    component, what, describe(exc), attempt, delay)
            if attempt >= backoff.pause_after and not stalled and stall is not None:
                log.warning("%s: still failing after %d attempts; pausing until it recovers",
                            component, attempt)
                await stall(True)
                stalled = True
            await sleep(delay)
            delay = backoff.next(delay)
            continue
        if attempt:
            log.info("%s %s: recovered after %d attempts", component, what, attempt)
        if stalled and stall is not None:
            await stall(False)
        return result


async def run_loop(step: Callable[[], Awaitable[float]], *, component: str,
                   metrics: Metrics | None, stop: asyncio.Event,
                   backoff: Backoff = Backoff(first_s=0.5, max_s=10.0)) -> None:
    """Run ``step`` until ``stop`` is set; ``step`` returns the seconds to wait before the
    next round. A transient failure waits the (growing) backoff; a bug is reported and
    waits the longest backoff; neither ends the loop."""
    delay, failures = backoff.first_s, 0
    while not stop.is_set():
        try:
            wait = await step()
            if failures:
                log.info("%s: recovered after %d failed rounds", component, failures)
            delay, failures = backoff.first_s, 0
        except Exception as exc:
            failures += 1
            if is_transient(exc):
                if metrics is not None:
                    metrics.transient_errors_total.labels(component=component).inc()
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "%s: transient failure (%s); retrying in %.1f s", component,
                        describe(exc), delay)
                wait, delay = delay, backoff.next(delay)
            else:
                report_bug(component, exc, metrics)
                wait = backoff.max_s
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


def retry_blocking(action: Callable[[], T], *, what: str, deadline_s: float,
                   transient: Callable[[BaseException], bool] = is_transient,
                   backoff: Backoff = Backoff(first_s=0.2), loud: bool = False) -> T:
    """The synchronous form (start-up, admin calls): retry transient failures until
    ``deadline_s``, then raise the last one; a bug raises at once. ``loud``: a WARNING
    per attempt (an operator waiting at start-up wants to see it is still waiting)."""
    end = time.monotonic() + deadline_s
    delay, attempt = backoff.first_s, 0
    while True:
        try:
            return action()
        except Exception as exc:
            if not transient(exc) or time.monotonic() > end:
                raise
            attempt += 1
            log.log(logging.WARNING if attempt == 1 or loud else logging.DEBUG,
                    "%s not reachable yet (%s); retrying", what, describe(exc))
            time.sleep(delay)
            delay = backoff.next(delay)
