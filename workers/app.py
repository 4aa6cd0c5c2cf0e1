"""The faust application: one thin agent per handled input topic plus the background loops.

Agents only turn faust events into :class:`workers.records.Record` batches and hand
them to a :class:`workers.pipeline.BatchProcessor`; correctness never depends on faust
offsets (inbox + outbox make every effect idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from topics import INPUT_TOPICS
from workers.pipeline import BatchProcessor, Handler
from workers.records import Record
from workers.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 0.05

#: faust settings of the consuming path (also used by the bench's faust ceiling).
#: ``stream_buffer_maxsize`` bounds the events each agent prefetches: 8,192 (4 batches)
#: keeps throughput and caps the worker's memory (131,072 per agent held ~300 MB).
FAUST_TUNING: dict[str, Any] = dict(
    broker_commit_interval=0.5,
    broker_max_poll_records=5000,
    stream_buffer_maxsize=8192,
)

#: Longest time a fetch may wait on the broker for new records. faust hard-codes 1,500 ms.
#: Kafka answers a fetch as soon as one record is there, so this only bounds idle polling;
#: the dev broker (Tansu) holds every fetch for about half of it even when records arrive,
#: which alone put p99 publish → commit latency at ~750 ms.
FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start()
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


def create_app(runtime: Runtime, handlers: dict[str, Handler], web_port: int) -> faust.App:
    """Build the faust app for ``runtime``; nothing connects until the worker starts."""
    settings = runtime.settings
    datadir = settings.data_dir / f"faust-{web_port}"
    datadir.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.bootstrap().split(","))
    app = faust.App(
        settings.consumer_group,
        broker=brokers,
        processing_guarantee="at_least_once",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        topic_partitions=runtime.names.partitions,
        web_enabled=True,
        web_port=web_port,
        web_bind="0.0.0.0",
        web_host="127.0.0.1",
        datadir=str(datadir),
        autodiscover=False,
        store="memory://",
        **FAUST_TUNING,
    )
    if isinstance(app.transport, faust_aiokafka.Transport):
        app.transport.Consumer = _Consumer  # type: ignore[misc]  # FETCH_MAX_WAIT_MS
    # Only topics with a handler are consumed: the contract's topics (all created by
    # `topics create`) can exist before the feature that handles them lands.
    for base in INPUT_TOPICS:
        if base in handlers:
            _add_agent(app, runtime, base, handlers[base])
    return app


def _add_agent(app: faust.App, runtime: Runtime, base: str, handler: Handler) -> None:
    name = runtime.names.name(base)
    topic = app.topic(name, value_type=bytes, key_type=bytes, value_serializer="raw",
                      key_serializer="raw")
    pause = _pauser(app, name)
    holder: dict[str, BatchProcessor] = {}

    async def consume(stream: Any) -> None:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await runtime.start()
            processor = holder.get("p")
            if processor is None:
                assert runtime.pool is not None and runtime.publisher is not None
                processor = BatchProcessor(
                    base, handler, runtime.pool, runtime.publisher, runtime.names,
                    runtime.metrics, runtime.context, pause=pause,
                )
                holder["p"] = processor
            await processor.process(_records(events))
            runtime.extras.setdefault("positions", {}).update(_positions(events))

    consume.__name__ = f"consume_{base.replace('-', '_')}"
    app.agent(topic, name=f"claimdesk.{base}", concurrency=1)(consume)


def _records(events: Sequence[Any]) -> list[Record]:
    out = []
    for ev in events:
        msg = ev.message
        out.append(Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value,
                          int(msg.timestamp * 1000) if msg.timestamp else None))
    return out


def _positions(events: Sequence[Any]) -> dict[tuple[str, int], tuple[int, float]]:
    """Last processed (offset, record timestamp) per partition, for lag metrics."""
    out: dict[tuple[str, int], tuple[int, float]] = {}
    for ev in events:
        msg = ev.message
        out[(msg.topic, msg.partition)] = (msg.offset, float(msg.timestamp or 0.0))
    return out


def _pauser(app: faust.App, topic_name: str) -> Callable[[bool], Any]:
    async def pause(on: bool) -> None:
        consumer = app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic == topic_name]
        if on:
            consumer.pause_partitions(tps)
        else:
            consumer.resume_partitions(tps)

    return pause


def lag_probe(app: faust.App, runtime: Runtime) -> Callable[[Any], list[tuple[str, int, int, float]]]:
    """Lag of this process's partitions: fetch high watermark − next offset to process.

    The high watermark comes from fetch responses (correct on Kafka, Redpanda and the
    embedded broker, whose ListOffsets LATEST is wrong). Lag in seconds is now minus the
    timestamp of the last processed record — an upper bound of the oldest unconsumed
    record's age — and 0 when caught up.
    """
    bases = {runtime.names.name(b): b for b in INPUT_TOPICS}

    def probe(now: Any) -> list[tuple[str, int, int, float]]:
        positions = runtime.extras.get("positions", {})
        rows = []
        for tp in app.consumer.assignment():
            base = bases.get(tp.topic)
            last = positions.get((tp.topic, tp.partition))
            hw = app.consumer.highwater(tp)
            if base is None or last is None or hw is None or hw < 0:
                continue
            lag = max(0, int(hw) - (last[0] + 1))
            seconds = max(0.0, now.timestamp() - last[1]) if lag else 0.0
            rows.append((base, tp.partition, lag, seconds))
        return rows

    return probe
