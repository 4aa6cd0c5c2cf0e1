"""The worker's one batch consumer: aiokafka ``getmany`` rounds through the BatchProcessors.

Why not faust agents: faust's per-event stream path cost ~120 µs per event before any
work (docs/performance.md), and the handlers are batch handlers anyway. faust still runs
the web server, the background tasks and the worker's lifecycle; this consumer is one of
its tasks.

A *round* is one ``getmany``: its records grouped by topic, each topic's batch applied by
that topic's :class:`~workers.pipeline.BatchProcessor` (one topic after the other, in the
registry's order, each in its own transaction: inbox + read models + outbox), and — only
once every record of the round has settled (applied, duplicate, parked or dead-lettered) —
the round's offsets committed. A crash between apply and commit redelivers records the inbox recognises as
duplicates: at-least-once delivery, no effect twice.

Rebalance: on revoke, the in-flight round may finish and commit (bounded by
``revoke_grace_s``); a round that cannot finish in time (a dependency is down) is
cancelled — its open transaction rolls back, its offsets are not committed, and the next
owner starts at the last committed offset. Offsets never move past an unsettled record, so
nothing is skipped.

Transient failure: the BatchProcessor pauses (through :meth:`pause`) and this loop keeps
calling ``getmany`` on the paused consumer, which returns nothing but keeps the member in
the group (``max.poll.interval``); the processor resumes when the dependency is back.
Nothing here depends on the dev broker's quirks (session timeout, no transactions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata

from workers.pipeline import BatchProcessor
from workers.records import Record

log = logging.getLogger(__name__)

LagRow = tuple[str, int, int, float]


@dataclass(frozen=True)
class ConsumerTuning:
    """How the consumer polls. Defaults measured on the bench (docs/performance.md)."""

    #: records per round: large rounds amortise per-statement and per-commit cost; each
    #: record takes an advisory lock or two in its transaction, and Postgres's shared lock
    #: table holds 64 × max_connections by default: 4,000 leaves room for several workers
    max_records: int = 4000
    #: longest a fetch waits on the broker when nothing is there (bounds idle polling;
    #: Kafka answers as soon as records arrive)
    fetch_max_wait_ms: int = 100
    poll_timeout_ms: int = 200
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    #: longest a revoke waits for the in-flight round before abandoning it
    revoke_grace_s: float = 10.0
    #: while a round waits on a dependency, poll (paused) this often to stay in the group
    keepalive_s: float = 1.0
    #: after an unexpected round failure, wait this long before re-reading the round
    retry_s: float = 1.0


@dataclass
class BatchConsumer(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    """One aiokafka consumer in the worker's group feeding one BatchProcessor per topic."""

    bootstrap: str
    group: str
    #: full topic name → the processor of that topic (the handler registry decides which)
    processors: Mapping[str, BatchProcessor]
    tuning: ConsumerTuning = field(default_factory=ConsumerTuning)
    client_id: str = "claimdesk-worker"
    consumer: AIOKafkaConsumer | None = field(default=None, init=False)
    #: last processed (offset, record timestamp in s) per partition, for lag metrics
    positions: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict, init=False)
    _round: asyncio.Task[None] | None = field(default=None, init=False)
    _pausers: set[str] = field(default_factory=set, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _last_done: float = field(default=0.0, init=False)  # end of the last round (DEBUG)

    async def run(self) -> None:
        """Consume until :meth:`stop`."""
        t = self.tuning
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, client_id=self.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=t.session_timeout_ms, heartbeat_interval_ms=t.heartbeat_interval_ms,
            fetch_max_wait_ms=t.fetch_max_wait_ms, max_poll_records=t.max_records,
        )
        consumer.subscribe(topics=sorted(self.processors), listener=self)
        await consumer.start()
        self.consumer = consumer
        try:
            while not self._stopping.is_set():
                got = await consumer.getmany(timeout_ms=t.poll_timeout_ms,
                                             max_records=t.max_records)
                if got and not self._stopping.is_set():
                    await self._run_round(got)
        finally:
            self.consumer = None
            try:
                await consumer.stop()  # leaves the group: the others take over at once
            finally:
                self._stopped.set()

    async def stop(self) -> None:
        """Let the in-flight round settle and commit (bounded), then leave the group."""
        self._stopping.set()
        await self._settle_round("stop")
        if self.consumer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.tuning.revoke_grace_s)

    # -- a round -----------------------------------------------------------------------

    async def _run_round(self, got: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        self._round = round_task = asyncio.create_task(self._apply_and_commit(got))
        try:
            while not round_task.done():
                await asyncio.wait({round_task}, timeout=self.tuning.keepalive_s)
                if not round_task.done() and self._pausers:
                    await self._keepalive()
        finally:
            self._round = None
        if round_task.cancelled():
            log.warning("round of %d records abandoned (partitions revoked); not committed",
                        sum(map(len, got.values())))
            return
        exc = round_task.exception()
        if exc is not None:
            log.error("round failed (%s); re-reading it in %.1f s", type(exc).__name__,
                      self.tuning.retry_s, exc_info=exc)
            self._rewind(got)
            await asyncio.sleep(self.tuning.retry_s)

    async def _apply_and_commit(self, got: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]
                                ) -> None:
        started = time.perf_counter()
        waited = (time.time() * 1000 - min(msgs[0].timestamp or 0 for msgs in got.values())
                  if log.isEnabledFor(logging.DEBUG) else 0.0)  # oldest record's age
        per_topic: dict[str, list[Record]] = {}
        for tp, msgs in got.items():
            per_topic.setdefault(tp.topic, []).extend(
                Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs)
        rank = {topic: n for n, topic in enumerate(self.processors)}
        took: list[str] = []
        # One topic's batch after the other, in the registry's (lifecycle) order, never
        # concurrently: the batches of one round lock the same subjects (case:<id>,
        # routing), so concurrent transactions only waited for each other while the event
        # loop, shared by all of them, stretched every lock holder's transaction — 3 ×
        # the latency at 1,000 ev/s (docs/performance.md, "Rounds, locks and latency").
        for topic in sorted(per_topic, key=rank.__getitem__):  # unknown topic: KeyError
            at = time.perf_counter()
            await self.processors[topic].process(per_topic[topic])
            took.append(f"{topic.rsplit('.', 1)[-1]} {len(per_topic[topic])}"
                        f" {(time.perf_counter() - at) * 1000:.0f}")
        settled = time.perf_counter()
        offsets = {tp: OffsetAndMetadata(msgs[-1].offset + 1, "") for tp, msgs in got.items()}
        for tp, msgs in got.items():
            last = msgs[-1]
            self.positions[(tp.topic, tp.partition)] = (last.offset, (last.timestamp or 0) / 1000)
        await self._commit(offsets)
        if log.isEnabledFor(logging.DEBUG):  # where a round's time goes (no payloads)
            done = time.perf_counter()
            log.debug("round: %d records, gap %.1f ms, settled %.1f ms (%s), commit %.1f ms,"
                      " oldest waited %.0f ms", sum(map(len, got.values())),
                      (started - self._last_done) * 1000, (settled - started) * 1000,
                      ", ".join(took), (done - settled) * 1000, waited)
            self._last_done = done

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        assert self.consumer is not None
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # membership changed: the new owner re-reads, the inbox dedups
            log.warning("offset commit failed (%s); those records will be redelivered",
                        type(exc).__name__)

    def _rewind(self, got: Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]) -> None:
        """Seek back to the round's first records so that nothing is skipped."""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, msgs in got.items():
            if tp in assigned:
                self.consumer.seek(tp, msgs[0].offset)

    async def _keepalive(self) -> None:
        """A poll that returns nothing (everything paused) but counts as one for the group."""
        consumer = self.consumer
        if consumer is None:
            return
        consumer.pause(*consumer.assignment())  # partitions assigned since the pause, too
        got = await consumer.getmany(timeout_ms=0)
        for tp, msgs in got.items():  # assigned during the poll: read them again later
            consumer.seek(tp, msgs[0].offset)

    async def _settle_round(self, why: str) -> None:
        round_task = self._round
        if round_task is None or round_task.done():
            return
        done, _ = await asyncio.wait({round_task}, timeout=self.tuning.revoke_grace_s)
        if not done:
            log.warning("%s: in-flight round still waiting after %.0f s; abandoning it", why,
                        self.tuning.revoke_grace_s)
            round_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await round_task
            self._pausers.clear()

    # -- pause / resume (called by the BatchProcessors) --------------------------------------

    def pauser(self, topic: str) -> Callable[[bool], Any]:
        """The ``pause`` hook of ``topic``'s processor: pause every assigned partition while
        any processor waits on a dependency (the round cannot finish anyway)."""

        async def pause(on: bool) -> None:
            consumer = self.consumer
            was_paused = bool(self._pausers)
            if on:
                self._pausers.add(topic)
            else:
                self._pausers.discard(topic)
            # the operator's signal of an outage and of its end (SPEC: bad dependency →
            # pause, never lose or skip); logged once per outage, not per processor
            if on and not was_paused:
                log.warning("%s: pausing partitions until the dependency recovers", topic)
            elif was_paused and not self._pausers:
                log.info("dependency recovered, resuming partitions")
            if consumer is None:
                return
            if on:
                consumer.pause(*consumer.assignment())
            elif not self._pausers:
                consumer.resume(*consumer.assignment())

        return pause

    # -- rebalance listener ------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Finish (and commit) or abandon the in-flight round before giving partitions up."""
        await self._settle_round("revoke")
        for tp in revoked:
            self.positions.pop((tp.topic, tp.partition), None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Nothing to do: positions come from the committed offsets."""
        log.info("assigned %d partitions", len(list(assigned)))

    # -- lag ---------------------------------------------------------------------------------

    def lag(self, now_s: float, base_of: Mapping[str, str]) -> list[LagRow]:
        """(topic base, partition, lag in messages, lag in seconds) of the partitions this
        process owns and has consumed from.

        Lag = fetch high watermark − next offset to process (the high watermark comes from
        fetch responses: no ListOffsets, which the embedded broker gets wrong). Lag in
        seconds is now minus the timestamp of the last processed record — an upper bound
        of the oldest unconsumed record's age — and 0 when caught up.
        """
        consumer = self.consumer
        if consumer is None:
            return []
        rows = []
        for tp in consumer.assignment():
            base = base_of.get(tp.topic)
            last = self.positions.get((tp.topic, tp.partition))
            hw = consumer.highwater(tp)
            if base is None or last is None or hw is None or hw < 0:
                continue
            lag = max(0, int(hw) - (last[0] + 1))
            rows.append((base, tp.partition, lag, max(0.0, now_s - last[1]) if lag else 0.0))
        return rows
