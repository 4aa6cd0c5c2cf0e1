"""The worker's console task: the start banner once the worker runs, then a progress line
every ``CLAIMDESK_PROGRESS_SECONDS`` (default 60) until the process stops.

Kept apart from :mod:`workers.console` (pure formatting) because it needs the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from workers.console import banner, describe_database, progress_line, read_progress
from workers.runtime import Runtime

log = logging.getLogger("claimdesk")

_PARTS = ("SLA sweeper", "surge/backlog monitor", "outbox relay")


async def run_console(runtime: Runtime, role: str, topics: Sequence[str], port: int,
                      lines: Sequence[tuple[str, str]] = (), embedded: bool = False) -> None:
    """Log the banner, then progress lines until ``runtime.stop_event`` is set."""
    settings = runtime.settings
    interval = settings.progress_seconds
    tag = " (embedded)" if embedded else ""
    dsn = settings.database_url.get_secret_value() if settings.database_url else None
    where = [
        ("broker", f"{settings.kafka_bootstrap_servers}{tag}"),
        ("postgres", describe_database(dsn, embedded=False) + tag),
        *lines,
    ]
    runs = [f"one batch consumer of {len(topics)} topics ({', '.join(topics)})", *_PARTS]
    text, fields = banner(role, runs, port, where, interval)
    log.info(text, extra={"fields": fields})
    registry = runtime.metrics.registry
    before, since = read_progress(registry), time.monotonic()
    while not runtime.stop_event.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop_event.wait(), timeout=interval)
        if runtime.stop_event.is_set():
            return
        now, at = read_progress(registry), time.monotonic()
        text, fields = progress_line(now, before, round(at - since))
        log.info(text, extra={"fields": fields})
        before, since = now, at
