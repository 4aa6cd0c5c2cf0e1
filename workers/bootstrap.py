"""The composition root: settings → stack → runtime → faust app. Nothing else wires."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.embedded import EmbeddedStack, free_port
from infra.metrics import build_metrics
from infra.outbox import run_relay
from infra.settings import Settings
from prometheus_client import REGISTRY
from topics import INPUT_TOPICS, TopicNames

from workers.app import create_app
from workers.context import HandlerContext
from workers.handlers.timeline import record_events
from workers.pipeline import Handler
from workers.runtime import Runtime
from workers.web import add_pages

log = logging.getLogger(__name__)


@contextmanager
def connections(settings: Settings) -> Iterator[Settings]:
    """Settings with concrete connections: the embedded stack when none is configured."""
    if not settings.embedded:
        yield settings
        return
    with EmbeddedStack(settings.data_dir) as stack:
        assert stack.postgres is not None
        log.info(
            "embedded stack: KAFKA_BOOTSTRAP_SERVERS=%s DATABASE_URL=<postgres socket in %s>",
            stack.broker.bootstrap, stack.postgres.data_dir,
        )
        yield settings.with_connections(stack.broker.bootstrap, stack.postgres.dsn)


def handlers() -> dict[str, Handler]:
    """The batch handler of each input topic."""
    return {base: record_events for base in INPUT_TOPICS}


def build_runtime(settings: Settings, registry: Any = REGISTRY) -> Runtime:
    """Runtime with the process's metrics bundle and handler context."""
    names = TopicNames(settings.topic_prefix)
    return Runtime(
        settings=settings,
        names=names,
        metrics=build_metrics(registry),
        context=HandlerContext(names=names),
    )


def build_worker(settings: Settings, registry: Any = REGISTRY) -> tuple[Any, Runtime, int]:
    """The faust app of ``claimdesk worker``, its runtime, and the HTTP port chosen."""
    runtime = build_runtime(settings, registry)
    port = free_port(settings.metrics_port)
    if port != settings.metrics_port:
        log.warning("port %d is taken; serving /metrics on port %d", settings.metrics_port, port)
    app = create_app(runtime, handlers(), port)
    add_pages(app, runtime)

    @app.task
    async def outbox_relay() -> None:
        await runtime.start()
        assert runtime.pool is not None and runtime.publisher is not None
        await run_relay(
            runtime.pool, runtime.publisher, runtime.names, runtime.metrics, runtime.stop_event
        )

    @app.task
    async def announce() -> None:
        log.info("claimdesk worker serving http://127.0.0.1:%d/metrics", port)

    return app, runtime, port


def run_worker(settings: Settings) -> None:
    """Run one worker process until SIGINT/SIGTERM."""
    import faust

    app, runtime, _ = build_worker(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), override_logging=False)

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def _stop(app: Any, **kwargs: Any) -> None:
        await runtime.stop()

    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
