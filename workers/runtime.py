"""Process-wide resources of a worker, started lazily inside the event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from infra.db import open_pool
from infra.kafka import AsyncPublisher
from infra.metrics import Metrics
from infra.retry import Backoff, retry_transient
from infra.settings import Settings
from topics import TopicNames
from workers.context import HandlerContext

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Pool, publisher, metrics and context shared by every agent and timer of a process."""

    settings: Settings
    names: TopicNames
    metrics: Metrics
    context: HandlerContext
    pool: AsyncConnectionPool | None = None
    #: the outbox relay's vault reader pool (PII role); None → ``pool`` (SPEC §8 default)
    pii_pool: AsyncConnectionPool | None = None
    publisher: AsyncPublisher | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    extras: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        """Open the pool and the publisher once; retries until both dependencies answer."""
        async with self._lock:
            if self.ready:
                return
            await retry_transient(self._connect, component="runtime",
                                  what="connecting to Postgres and the broker",
                                  metrics=self.metrics, backoff=Backoff(first_s=0.2))
            self.ready = True

    async def _connect(self) -> None:
        if self.pool is None:
            self.pool = await open_pool(self.settings.dsn())
        pii_dsn = self.settings.pii_dsn()
        if pii_dsn is not None and self.pii_pool is None:
            self.pii_pool = await open_pool(pii_dsn, max_size=2)
        async with self.pool.connection(timeout=10) as conn:
            await conn.execute("SELECT 1")
        if self.publisher is None:
            publisher = AsyncPublisher(self.settings.bootstrap(), "claimdesk-worker")
            await publisher.start()
            self.publisher = publisher

    async def stop(self) -> None:
        """Close the publisher and the pool."""
        self.stop_event.set()
        if self.publisher is not None:
            await self.publisher.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.pii_pool is not None:
            await self.pii_pool.close()
        self.ready = False

    async def healthy(self) -> bool:
        """Connected to Postgres and the broker right now."""
        if not self.ready or self.pool is None:
            return False
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:
            return False
        return True
