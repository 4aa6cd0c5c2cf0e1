"""The faust application: web server, timers, background tasks and lifecycle — and one
batch consumer task (:mod:`workers.consumer`) that feeds every input topic's records to
its :class:`workers.pipeline.BatchProcessor`.

faust's own Kafka consumer and producer are not started: events never go through faust
streams (their per-event path was the first throughput ceiling, docs/performance.md).
Correctness never depends on offsets alone: inbox + outbox make every effect idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import faust
from faust.app.base import BootStrategy

from workers.consumer import BatchConsumer, ConsumerTuning, LagRow
from workers.pipeline import BatchProcessor, Handler
from workers.runtime import Runtime

log = logging.getLogger(__name__)


class _NoKafkaBoot(BootStrategy):
    """faust without its Kafka consumer and producer: the batch consumer owns consuming,
    the runtime's publisher owns producing. A faust consumer would also join the worker's
    consumer group with another assignment protocol."""

    enable_kafka = False


class _App(faust.App):
    BootStrategy = _NoKafkaBoot


def create_app(runtime: Runtime, handlers: Mapping[str, Handler], web_port: int,
               tuning: ConsumerTuning | None = None) -> faust.App:
    """Build the faust app for ``runtime``; nothing connects until the worker starts.

    The consumer subscribes to exactly the topics of ``handlers`` (the one registry)."""
    settings = runtime.settings
    datadir = settings.data_dir / f"faust-{web_port}"
    datadir.mkdir(parents=True, exist_ok=True)
    app = _App(
        settings.consumer_group,
        broker=f"kafka://{settings.bootstrap().split(',')[0].strip()}",
        web_enabled=True,
        web_port=web_port,
        web_bind="0.0.0.0",
        web_host="127.0.0.1",
        datadir=str(datadir),
        autodiscover=False,
        store="memory://",
    )
    holder: dict[str, BatchConsumer] = {}
    runtime.extras["consumer"] = holder

    @app.task
    async def consume() -> None:
        await runtime.start()
        consumer = build_consumer(runtime, handlers, tuning or ConsumerTuning())
        holder["c"] = consumer
        await consumer.run()

    return app


async def stop_consuming(runtime: Runtime) -> None:
    """Let the in-flight round settle and leave the group (before the pool closes)."""
    consumer = runtime.extras.get("consumer", {}).get("c")
    if consumer is not None:
        await consumer.stop()


def build_consumer(runtime: Runtime, handlers: Mapping[str, Handler],
                   tuning: ConsumerTuning) -> BatchConsumer:
    """The batch consumer of a started runtime: one BatchProcessor per registered topic."""
    assert runtime.pool is not None and runtime.publisher is not None
    processors: dict[str, BatchProcessor] = {}
    consumer = BatchConsumer(runtime.settings.bootstrap(), runtime.settings.consumer_group,
                             processors, tuning)
    for base, handler in handlers.items():
        name = runtime.names.name(base)
        processors[name] = BatchProcessor(
            base, handler, runtime.pool, runtime.publisher, runtime.names, runtime.metrics,
            runtime.context, pause=consumer.pauser(name),
        )
    return consumer


def lag_probe(runtime: Runtime, handlers: Mapping[str, Handler]) -> Callable[[Any], list[LagRow]]:
    """Lag rows of this process's partitions (see :meth:`BatchConsumer.lag`)."""
    base_of = {runtime.names.name(b): b for b in handlers}

    def probe(now: Any) -> list[LagRow]:
        consumer = runtime.extras.get("consumer", {}).get("c")
        return consumer.lag(now.timestamp(), base_of) if consumer is not None else []

    return probe
