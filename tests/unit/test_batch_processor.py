"""The error policy of :class:`workers.pipeline.BatchProcessor` with fakes (milliseconds).

A fake pool/connection, handler, publisher and pause stand in for Postgres and the broker:
a data error on one event dead-letters only that event; a bug is reported and its event
dead-lettered; transient failures retry, then pause, then resume; nothing returns (so
nothing is acknowledged) before every record is settled.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import errors

from infra.kafka import OutRecord
from infra.metrics import build_metrics
from infra.retry import Backoff
from schemas.enums import Outcome
from tests.integration.builders import case
from topics import CASE_REPORTED, TopicNames
from workers.pipeline import BatchProcessor
from workers.records import Incoming, Record

NAMES = TopicNames("t.")


@dataclass
class FakeConn:
    commits: int = 0
    rollbacks: int = 0
    closed: bool = False

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        self.rollbacks += 1


@dataclass
class FakePool:
    """``down`` connection attempts fail as if Postgres were unreachable."""

    down: int = 0
    conn: FakeConn = field(default_factory=FakeConn)
    attempts: int = 0

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[FakeConn]:
        self.attempts += 1
        if self.down > 0:
            self.down -= 1
            raise psycopg.OperationalError("connection refused")
        yield self.conn


@dataclass
class FakePublisher:
    sent: list[OutRecord] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def publish(self, records: Sequence[OutRecord]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.extend(records)


@dataclass
class FakeHandler:
    """Applies every event; ``poison`` case ids raise ``error`` whenever they are in a batch."""

    poison: dict[str, BaseException] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)

    async def __call__(self, conn: Any, items: Sequence[Incoming], ctx: Any) -> list[Outcome]:
        ids = [i.event.data.case_id for i in items]
        self.batches.append(ids)
        for cid in ids:
            if cid in self.poison:
                raise self.poison[cid]
        return [Outcome.APPLIED] * len(items)


def record(n: int, value: bytes | None = None) -> Record:
    body = value if value is not None else json.dumps(case(f"C-{n}")).encode()
    return Record(NAMES.name(CASE_REPORTED), 0, n, f"C-{n}".encode(), body)


def processor(handler: FakeHandler, pool: FakePool, publisher: FakePublisher,
              pauses: list[bool]) -> BatchProcessor:
    async def pause(on: bool) -> None:
        pauses.append(on)

    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    return BatchProcessor(CASE_REPORTED, handler, pool, publisher, NAMES,  # type: ignore[arg-type]
                          build_metrics(), None, pause=pause,
                          backoff=Backoff(first_s=0.001, max_s=0.001, pause_after=3),
                          sleep=no_sleep)


def count(proc: BatchProcessor, name: str, **labels: str) -> float:
    value = proc.metrics.registry.get_sample_value(f"claimdesk_{name}", labels)
    return value or 0.0


def test_a_data_error_dead_letters_only_its_event() -> None:
    handler = FakeHandler({"C-2": errors.NumericValueOutOfRange()})
    pool, pub, pauses = FakePool(), FakePublisher(), []
    proc = processor(handler, pool, pub, pauses)
    asyncio.run(proc.process([record(n) for n in range(1, 5)]))
    assert handler.batches[0] == ["C-1", "C-2", "C-3", "C-4"]  # whole batch first, then one by one
    assert handler.batches[1:] == [["C-1"], ["C-2"], ["C-3"], ["C-4"]]
    assert [r.topic for r in pub.sent] == [NAMES.dlt(CASE_REPORTED)]
    assert dict(pub.sent[0].headers)["claimdesk.error.code"] == b"unprocessable"
    assert pub.sent[0].key == b"C-2"
    assert pool.conn.commits == 3 and pauses == []
    assert count(proc, "events_total", topic=CASE_REPORTED, outcome="applied") == 3
    assert count(proc, "events_total", topic=CASE_REPORTED, outcome="dead_lettered") == 1
    assert count(proc, "unexpected_errors_total", component=CASE_REPORTED) == 0


def test_a_bug_is_reported_at_error_and_its_event_dead_lettered(
    caplog: pytest.LogCaptureFixture
) -> None:
    handler = FakeHandler({"C-1": KeyError("13812345678")})  # the message may hold PII
    pub = FakePublisher()
    proc = processor(handler, FakePool(), pub, [])
    with caplog.at_level(logging.ERROR):
        asyncio.run(proc.process([record(1), record(2)]))
    assert [r.key for r in pub.sent] == [b"C-1"]
    assert count(proc, "unexpected_errors_total", component=CASE_REPORTED) == 1
    bug = [r for r in caplog.records if "a bug" in r.getMessage()]
    assert bug and bug[0].levelno == logging.ERROR and "Traceback" not in bug[0].getMessage()
    assert "__call__" in bug[0].getMessage()  # the frames are there
    assert "13812345678" not in caplog.text


def test_invalid_records_are_dead_lettered_without_the_handler() -> None:
    handler, pub = FakeHandler(), FakePublisher()
    proc = processor(handler, FakePool(), pub, [])
    asyncio.run(proc.process([record(1, b"{not json"), record(2)]))
    assert handler.batches == [["C-2"]]
    assert [dict(r.headers)["claimdesk.error.code"] for r in pub.sent] == [b"invalid_json"]


def test_transient_failures_retry_then_pause_then_resume() -> None:
    handler, pool, pub, pauses = FakeHandler(), FakePool(down=5), FakePublisher(), []
    proc = processor(handler, pool, pub, pauses)
    asyncio.run(proc.process([record(1), record(2)]))
    assert pool.attempts == 6 and pauses == [True, False]  # paused after 3, resumed on success
    assert handler.batches == [["C-1", "C-2"]] and pub.sent == []  # never dead-lettered
    assert count(proc, "transient_errors_total", component=CASE_REPORTED) == 5


def test_a_short_outage_does_not_pause() -> None:
    pauses: list[bool] = []
    proc = processor(FakeHandler(), FakePool(down=2), FakePublisher(), pauses)
    asyncio.run(proc.process([record(1)]))
    assert pauses == []


def test_nothing_returns_before_it_is_settled() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        handler = FakeHandler({"C-1": errors.StringDataRightTruncation()})
        pool, pub = FakePool(down=1), FakePublisher(gate=gate)
        task = asyncio.create_task(processor(handler, pool, pub, []).process([record(1)]))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done()  # the dead letter is not acked yet
        gate.set()
        await asyncio.wait_for(task, 1)
        assert len(pub.sent) == 1

    asyncio.run(scenario())


def test_handler_outcomes_must_be_known() -> None:
    async def weird(conn: Any, items: Sequence[Incoming], ctx: Any) -> list[str]:
        return ["exploded"] * len(items)

    pub = FakePublisher()
    proc = processor(FakeHandler(), FakePool(), pub, [])
    proc.handler = weird
    asyncio.run(proc.process([record(1)]))
    assert [r.key for r in pub.sent] == [b"C-1"]  # a bug: reported and dead-lettered
    assert count(proc, "unexpected_errors_total", component=CASE_REPORTED) == 1
