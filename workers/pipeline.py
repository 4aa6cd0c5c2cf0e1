"""The one error policy around a batch of records.

decode → validate → apply the batch in ONE transaction (inbox + read models + outbox)
→ dead-letter the invalid ones → only then return (faust acks after we return).

- invalid input → ``<topic>.DLT`` with SPEC §6 headers;
- a Postgres data error (SQLSTATE 22/23) or an unexpected error in a handler →
  the batch is re-applied one event per transaction to find the culprit, which
  goes to the DLT as ``unprocessable``; the others are applied;
- a transient failure (Postgres or broker down) → retry with backoff, after
  ``pause_after`` attempts pause the partitions (the consumer keeps polling) and
  keep retrying; never skip, never dead-letter, never raise (``infra.retry``, the
  one retry policy);
- an unexpected (non-data) error is a bug: logged at ERROR with its traceback and
  counted (``claimdesk_unexpected_errors_total``) before its event is dead-lettered.

Nothing is acknowledged before it is settled: :meth:`BatchProcessor.process` returns
only once every record is applied or dead-lettered (the consumer commits after it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from infra.db import is_data_error, is_transient, unit_of_work
from infra.kafka import OutRecord
from infra.metrics import Metrics
from infra.retry import Backoff, describe, report_bug, retry_transient
from schemas.enums import Outcome
from topics import TopicNames
from workers.context import HandlerContext
from workers.decode import decode_record, dlt_headers, dlt_value
from workers.records import DeadLetter, Incoming, Record

log = logging.getLogger(__name__)
T = TypeVar("T")

Handler = Callable[[AsyncConnection[Any], Sequence[Incoming], HandlerContext],
                   Awaitable[Sequence[str]]]
"""``handler(conn, items, context)`` → one :class:`Outcome` per item, in order."""


class Publisher(Protocol):
    """Publishes records and waits for their acks."""

    async def publish(self, records: Sequence[OutRecord]) -> None: ...


@dataclass
class BatchProcessor:
    """Applies batches of one input topic with the error policy above."""

    base: str
    handler: Handler
    pool: AsyncConnectionPool
    publisher: Publisher
    names: TopicNames
    metrics: Metrics
    context: HandlerContext
    pause: Callable[[bool], Awaitable[None]] | None = None
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _retrying_now: bool = field(default=False, init=False, repr=False)

    async def process(self, records: Sequence[Record]) -> None:
        """Apply ``records`` (one partition or several); returns only when all are settled."""
        started = time.perf_counter()
        valid: list[Incoming] = []
        dead: list[DeadLetter] = []
        counts: dict[Outcome, int] = {}
        for rec in records:
            item = decode_record(self.base, rec)
            (valid if isinstance(item, Incoming) else dead).append(item)  # type: ignore[arg-type]
        if valid:
            outcomes, unprocessable = await self._retrying("apply", lambda: self._apply(valid))
            dead.extend(unprocessable)
            counts = self._count_applied(valid, outcomes)
        if dead:
            await self._retrying("dead-letter", lambda: self._dead_letter(dead))
            self.metrics.events_total.labels(self.base, Outcome.DEAD_LETTERED.value).inc(len(dead))
        elapsed = time.perf_counter() - started
        self.metrics.batch_size.labels(self.base).observe(len(records))
        if records:
            per_event = elapsed / len(records)
            hist = self.metrics.event_processing_seconds.labels(self.base)
            for _ in records:
                hist.observe(per_event)
            if log.isEnabledFor(logging.DEBUG):
                self._log_settled(records, counts, len(dead), elapsed)

    async def _apply(self, valid: list[Incoming]) -> tuple[dict[int, Outcome], list[DeadLetter]]:
        try:
            return await self._apply_in_one_transaction(valid), []
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning(
                "%s: batch of %d failed (%s); applying one event per transaction",
                self.base, len(valid), describe(exc),
            )
        outcomes: dict[int, Outcome] = {}
        dead: list[DeadLetter] = []
        for item in valid:
            try:
                outcomes.update(await self._apply_in_one_transaction([item]))
            except Exception as exc:
                if is_transient(exc):
                    raise
                if not is_data_error(exc):
                    report_bug(self.base, exc, self.metrics)
                log.error(
                    "%s: event at partition %d offset %d unprocessable: %s",
                    self.base, item.record.partition, item.record.offset, describe(exc),
                )
                dead.append(DeadLetter(item.record, "unprocessable", describe(exc)))
        return outcomes, dead

    async def _apply_in_one_transaction(self, items: list[Incoming]) -> dict[int, Outcome]:
        timeout = self.backoff.connect_timeout_s if self._retrying_now else None
        async with unit_of_work(self.pool, timeout) as uow:
            outcomes = await self.handler(uow.conn, items, self.context)
            await uow.commit()
        return {id(item): Outcome(outcome) for item, outcome in zip(items, outcomes, strict=True)}

    async def _dead_letter(self, dead: list[DeadLetter]) -> None:
        target = self.names.dlt(self.base)
        await self.publisher.publish(
            [OutRecord(target, d.record.key, dlt_value(d), dlt_headers(d)) for d in dead]
        )
        for d in dead:
            log.warning(
                "dead-lettered %s[%d]@%d to %s: %s: %s",
                d.record.topic, d.record.partition, d.record.offset, target, d.code, d.message,
            )

    async def _retrying(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            try:
                return await action()
            except Exception as exc:
                self._retrying_now = is_transient(exc)
                raise
        result = await retry_transient(attempt, component=self.base, what=what,
                                       metrics=self.metrics, backoff=self.backoff,
                                       stall=self.pause, sleep=self.sleep)
        self._retrying_now = False
        return result

    def _log_settled(self, records: Sequence[Record], counts: dict[Outcome, int], dead: int,
                     elapsed: float) -> None:
        """DEBUG: each partition's offsets and the batch's outcomes — positions and counts
        only, never payloads (SPEC §8), so a stuck partition can be traced."""
        spans: dict[int, tuple[int, int]] = {}
        for rec in records:
            low, high = spans.get(rec.partition, (rec.offset, rec.offset))
            spans[rec.partition] = (min(low, rec.offset), max(high, rec.offset))
        for partition, (low, high) in sorted(spans.items()):
            log.debug("%s[%d]: offsets %d..%d settled", self.base, partition, low, high)
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "none applied"
        log.debug("%s: batch of %d settled in %.1f ms: %s, %d dead-lettered", self.base,
                  len(records), elapsed * 1000, outcomes, dead)

    def _count_applied(self, valid: list[Incoming], outcomes: dict[int, Outcome]
                       ) -> dict[Outcome, int]:
        now = self.clock()
        age = self.metrics.event_age_seconds.labels(self.base)
        counts: dict[Outcome, int] = {}
        for item in valid:
            outcome = outcomes.get(id(item))
            if outcome is None:
                continue  # dead-lettered as unprocessable
            counts[outcome] = counts.get(outcome, 0) + 1
            age.observe(max(0.0, (now - item.event.data.data_time).total_seconds()))
        for outcome, n in counts.items():
            self.metrics.events_total.labels(self.base, outcome.value).inc(n)
        return counts
