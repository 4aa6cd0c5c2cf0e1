"""The composition root: settings → stack → runtime → faust app. Nothing else wires."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import REGISTRY

from infra.embedded import EmbeddedStack, free_port
from infra.errors import ConfigError
from infra.metrics import build_metrics
from infra.outbox import run_relay
from infra.pii_fill import PoolVaultReader
from infra.settings import Settings
from topics import (
    CALLBACK_COMPLETED,
    CASE_REPORTED,
    CASE_WITHDRAWN,
    CATASTROPHE_DECLARED,
    COMPLAINT_FILED,
    DISPATCH_REQUESTED,
    PAYMENT_SETTLED,
    REVIEW_COMPLETED,
    TopicNames,
)
from workers.app import create_app, lag_probe, stop_consuming
from workers.console_loop import run_console
from workers.context import HandlerContext
from workers.handlers.callbacks import apply_callback_completed_batch
from workers.handlers.cases import apply_case_reported_batch
from workers.handlers.catastrophes import apply_catastrophe_declared_batch
from workers.handlers.complaints import apply_complaint_filed_batch
from workers.handlers.dispatches import apply_dispatch_requested_batch
from workers.handlers.reviews import apply_review_completed_batch
from workers.handlers.settlements import apply_payment_settled_batch
from workers.handlers.withdrawals import apply_case_withdrawn_batch
from workers.monitor.loop import run_monitor
from workers.ops_page import render_ops_page
from workers.pipeline import Handler
from workers.rules.policy import PolicyBook, parse_policy_toml
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
    return {
        CASE_REPORTED: apply_case_reported_batch,
        DISPATCH_REQUESTED: apply_dispatch_requested_batch,
        REVIEW_COMPLETED: apply_review_completed_batch,
        COMPLAINT_FILED: apply_complaint_filed_batch,
        CALLBACK_COMPLETED: apply_callback_completed_batch,
        PAYMENT_SETTLED: apply_payment_settled_batch,
        CASE_WITHDRAWN: apply_case_withdrawn_batch,
        CATASTROPHE_DECLARED: apply_catastrophe_declared_batch,
    }


def load_policy(settings: Settings) -> PolicyBook:
    """The policy book: built-in defaults, overridden by ``CLAIMDESK_POLICY_FILE``."""
    if settings.policy_file is None:
        return PolicyBook()
    try:
        text = settings.policy_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CLAIMDESK_POLICY_FILE {settings.policy_file}: {exc}") from exc
    try:
        return parse_policy_toml(text)
    except ValueError as exc:
        raise ConfigError(f"CLAIMDESK_POLICY_FILE {settings.policy_file}: {exc}") from exc


def build_runtime(settings: Settings, registry: Any = REGISTRY) -> Runtime:
    """Runtime with the process's metrics bundle and handler context."""
    names = TopicNames(settings.topic_prefix)
    metrics = build_metrics(registry)
    return Runtime(
        settings=settings,
        names=names,
        metrics=metrics,
        context=HandlerContext(names=names, policy=load_policy(settings), metrics=metrics),
    )


def build_worker(
    settings: Settings, registry: Any = REGISTRY, role: str = "worker",
    banner_lines: Sequence[tuple[str, str]] = (), embedded: bool = False,
) -> tuple[Any, Runtime, int]:
    """The faust app of ``claimdesk worker``, its runtime, and the HTTP port chosen.

    ``role`` and ``banner_lines`` go into the start banner (``claimdesk up`` adds the
    simulator and the embedded stack).
    """
    runtime = build_runtime(settings, registry)
    port = free_port(settings.metrics_port)
    if port != settings.metrics_port:
        log.warning("port %d is taken; serving /metrics on port %d", settings.metrics_port, port)
    registry = handlers()
    app = create_app(runtime, registry, port)
    add_pages(app, runtime, ops_page=render_ops_page)

    @app.task
    async def outbox_relay() -> None:
        await runtime.start()
        assert runtime.pool is not None and runtime.publisher is not None
        vault = PoolVaultReader(runtime.pii_pool or runtime.pool)  # PII role (SPEC §8)
        await run_relay(
            runtime.pool, runtime.publisher, runtime.names, runtime.metrics, runtime.stop_event,
            vault=vault,
        )

    @app.task
    async def monitor() -> None:
        await runtime.start()
        assert runtime.pool is not None
        await run_monitor(runtime.pool, runtime.context, runtime.metrics, runtime.stop_event,
                          lag_probe(runtime, registry))

    @app.task
    async def console() -> None:
        await run_console(runtime, role, sorted(registry), port, banner_lines, embedded)

    return app, runtime, port


#: allocations between young-generation collections (CPython's default: 700); a round
#: keeps thousands of records and effects alive for a second, which the default promotes
#: to the old generations and then scans again and again
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path (issue 15).

    Measured in a 40k-event drain (``bench/experiments/worker_cpu.py`` with a
    ``gc.callbacks`` meter): 2.4 s of the worker's 11 s of CPU went to the collector,
    1.8 s of it in 19 full collections of ~0.1 s over the start-up heap (imported modules,
    pydantic schemas, faust). ``gc.freeze()`` moves that heap to the permanent
    generation, which collections skip (full collections 1.8 → 0.45 s), and a larger
    young generation promotes less of a round's short-lived objects (GC 2.4 → 0.5 s in
    all). Cyclic garbage made while processing is still collected; memory is unchanged
    within the noise.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def run_worker(
    settings: Settings, role: str = "worker", banner_lines: Sequence[tuple[str, str]] = (),
    embedded: bool = False,
) -> None:
    """Run one worker process until SIGINT/SIGTERM (``embedded``: on the embedded stack)."""
    import faust

    app, runtime, _ = build_worker(settings, role=role, banner_lines=banner_lines,
                                   embedded=embedded)
    # quiet: faust's own console output (spinner, "-INT-") is replaced by workers.console
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), override_logging=False,
                          quiet=True)
    worker.spinner = None

    @app.on_before_shutdown.connect
    async def _stop(app: Any, **kwargs: Any) -> None:
        await stop_consuming(runtime)  # first: the round in flight still needs the pool
        await runtime.stop()

    tune_gc()
    with contextlib.suppress(SystemExit):  # faust exits via SystemExit after a clean stop
        worker.execute_from_commandline()
    log.info("claimdesk %s stopped", role)
