"""Drive handlers and monitor functions in-process against real Postgres, with a fake clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from infra.db import unit_of_work
from schemas import INPUT_EVENTS
from topics import TopicNames
from workers.bootstrap import handlers
from workers.context import HandlerContext
from workers.records import Incoming, Record
from workers.rules.policy import PolicyBook


class FakeClock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def context(clock: FakeClock) -> HandlerContext:
    """Handler context with default policy and the fake clock."""
    return HandlerContext(names=TopicNames(), policy=PolicyBook(), clock=clock)


def incoming(topic: str, events: Sequence[dict[str, Any]]) -> list[Incoming]:
    """Validated incoming events as the pipeline would hand them to a handler."""
    out = []
    for n, ev in enumerate(events):
        raw = json.dumps(ev, ensure_ascii=False).encode()
        out.append(Incoming(Record(topic, 0, n, None, raw), INPUT_EVENTS[topic].model_validate_json(raw)))
    return out


async def apply(pool: AsyncConnectionPool, topic: str, events: Sequence[dict[str, Any]],
                ctx: HandlerContext) -> list[str]:
    """Apply events of one topic in one transaction through the real handler."""
    async with unit_of_work(pool) as uow:
        outcomes = await handlers()[topic](uow.conn, incoming(topic, events), ctx)
        await uow.commit()
    return outcomes
