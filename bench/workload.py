"""The bench workload: simulator events (realistic mix) and two ways to publish them.

* :func:`build_workload` — exactly ``n`` events of :func:`workers.simulate.generate`
  (all four input topics, ≈ 4.6 events per case), data times over the few days that end
  an hour before the run: every surge window is closed, so no surge logic fires, and the
  monitor has only those days of windows to close (data from months ago would make it
  close every 10-minute window since then, a replay scenario rather than live traffic).
  Many SLA clocks breach, so the sweeper works during the bench;
* :func:`publish_all` — pre-publish as fast as aiokafka allows (drain phases);
* :func:`publish_paced` — a fixed offered load, recording each event's publish time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workers.simulate import CST, SimEvent, generate

HEADERS = [("content-type", b"application/cloudevents+json")]
EVENTS_PER_CASE = 4.6  # measured mean of the simulator mix; only sizes the first try
CASES_PER_DAY = 15000  # spread of the reports: ~10 per city-window, below any surge


@dataclass(frozen=True)
class Workload:
    """Events to publish (in order) and the roster that covers their cities."""

    events: list[SimEvent]
    roster: list[dict[str, str]]

    def identities(self) -> list[tuple[str, str]]:
        """(source, id) of every event, as the inbox stores them."""
        return [(_source(e), e.event_id) for e in self.events]

    def distinct(self) -> int:
        """Distinct events (what the inbox holds when everything is applied)."""
        return len(set(self.identities()))


def _source(e: SimEvent) -> str:
    # The simulator's sources are per insurer; the value carries it, parse it cheaply.
    v = e.value
    i = v.index(b'"source":"') + 10
    return v[i:v.index(b'"', i)].decode()


def build_workload(n_events: int, seed: int = 7) -> Workload:
    """Exactly ``n_events`` simulator events (the first ones in data-time order)."""
    n_cases = max(10, int(n_events / EVENTS_PER_CASE) + 20)
    while True:
        spread = timedelta(days=n_cases // CASES_PER_DAY + 1)
        end = datetime.now(CST).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        run = generate(n_cases, seed=seed, start=end - spread, spread=spread)
        if len(run.events) >= n_events:
            return Workload(run.events[:n_events], run.roster)
        n_cases = int(n_cases * 1.1) + 10


def _producer(bootstrap: str, linger_ms: int) -> object:
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms,
                            max_batch_size=256 * 1024, client_id="claimdesk-bench")


async def _publish_all(bootstrap: str, topic_of: Callable[[str], str],
                       events: Sequence[SimEvent],
                       progress: Callable[[int], None] | None) -> None:
    producer = _producer(bootstrap, linger_ms=5)
    await producer.start()  # type: ignore[attr-defined]
    try:
        chunk = 5000
        for start in range(0, len(events), chunk):
            futures = [
                await producer.send(topic_of(e.topic), value=e.value,  # type: ignore[attr-defined]
                                    key=e.key.encode(), headers=HEADERS)
                for e in events[start:start + chunk]
            ]
            await asyncio.gather(*futures)
            if progress:
                progress(min(len(events), start + chunk))
    finally:
        await producer.stop()  # type: ignore[attr-defined]


def publish_all(bootstrap: str, topic_of: Callable[[str], str], events: Sequence[SimEvent],
                progress: Callable[[int], None] | None = None) -> float:
    """Publish every event and wait for all acks; returns seconds taken."""
    started = time.perf_counter()
    asyncio.run(_publish_all(bootstrap, topic_of, events, progress))
    return time.perf_counter() - started


@dataclass
class PacedResult:
    """Wall-clock publish time (epoch seconds) per (source, id), and the achieved rate."""

    published_at: dict[tuple[str, str], float]
    offered_rate: float
    duration_s: float
    failures: int


async def _publish_paced(bootstrap: str, topic_of: Callable[[str], str],
                         events: Sequence[SimEvent], rate: float,
                         progress: Callable[[int], None] | None) -> PacedResult:
    """Every 5 ms tick, the events due so far go out as one ``send_batch`` per partition.

    The load generator shares the 2 cores with what it measures: per-record ``send()``
    cost it a quarter of a core at 2,000 records/s and the broker one request per record.
    Partitions are chosen by the producer's own default partitioner (murmur2 of the key),
    exactly as ``send()`` would. Each event is stamped just before its tick's batch is
    built, so the (at most one tick of) batching counts in the measured latency.
    """
    producer: Any = _producer(bootstrap, linger_ms=0)
    await producer.start()
    stamps: dict[tuple[str, str], float] = {}
    futures: list[Any] = []
    tick = 0.005
    try:
        for topic in {topic_of(e.topic) for e in events}:
            await producer.partitions_for(topic)  # metadata before the clock starts
        begin = time.monotonic()
        sent = reported = 0
        n = len(events)
        while sent < n:
            due = min(n, int((time.monotonic() - begin) * rate) + 1)
            batches: dict[tuple[str, int], Any] = {}
            now = time.time()
            for e in events[sent:due]:
                topic, key = topic_of(e.topic), e.key.encode()
                partition = producer._partition(topic, None, None, None, key, e.value)
                batch = batches.get((topic, partition))
                if batch is None:
                    batch = batches[(topic, partition)] = producer.create_batch()
                if batch.append(key=key, value=e.value, timestamp=None,
                                headers=HEADERS) is None:  # full: ship it, start another
                    batch.close()
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = batches[(topic, partition)] = producer.create_batch()
                    batch.append(key=key, value=e.value, timestamp=None, headers=HEADERS)
                stamps[(_source(e), e.event_id)] = now
            for (topic, partition), batch in batches.items():
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
            sent = due
            if progress and sent - reported >= 500:
                progress(sent)
                reported = sent
            next_at = begin + sent / rate
            await asyncio.sleep(max(0.0, min(tick, next_at - time.monotonic())))
        duration = time.monotonic() - begin
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = sum(isinstance(r, BaseException) for r in results)
    finally:
        await producer.stop()
    if progress:
        progress(len(events))
    return PacedResult(stamps, len(events) / duration if duration else 0.0, duration, failures)


def publish_paced(bootstrap: str, topic_of: Callable[[str], str], events: Sequence[SimEvent],
                  rate: float, progress: Callable[[int], None] | None = None) -> PacedResult:
    """Publish ``events`` at ``rate`` per second, stamping each just before it is sent."""
    return asyncio.run(_publish_paced(bootstrap, topic_of, events, rate, progress))
