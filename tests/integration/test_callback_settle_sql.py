"""The batch's one ``UPDATE callbacks … FROM unnest`` (``CallbackSettled`` rows) leaves the
table exactly as the former one UPDATE per settled callback did (kept below verbatim as
the reference): random results (NULL attempts/satisfaction, every status, microsecond
timestamps) applied both ways to the same rows, tables compared.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from workers.handlers.callbacks import CallbackSettled
from workers.store.rows import update_rows

pytestmark = pytest.mark.integration
_T0 = datetime(2026, 11, 21, 8, tzinfo=UTC)
_STATUS = ["requested", "reached", "refused", "unreachable", "cancelled"]


def _reference(conn: psycopg.Connection[Any], s: CallbackSettled) -> None:
    conn.execute(
        "UPDATE callbacks SET status = %s, result_attempt = %s, satisfaction = %s,"
        " praise = %s, report = %s, completed_at = %s WHERE callback_id = %s",
        (s.status, s.result_attempt, s.satisfaction, s.praise, s.report, s.completed_at,
         s.callback_id))


def _settled(rnd: random.Random, n: int) -> CallbackSettled:
    reached = rnd.random() < 0.6
    return CallbackSettled(
        f"CB-{n}", rnd.choice(_STATUS), rnd.randint(1, 3) if reached else None,
        rnd.randint(1, 5) if reached and rnd.random() < 0.8 else None,
        reached and rnd.random() < 0.2, reached and rnd.random() < 0.1,
        _T0 + timedelta(seconds=rnd.randint(0, 10**6), microseconds=rnd.randint(0, 999999))
        if rnd.random() < 0.7 else None)


def test_one_set_based_update_equals_one_update_per_callback(dsn: str) -> None:
    rnd = random.Random(15)
    settled = [_settled(rnd, n) for n in range(300) if rnd.random() < 0.8]  # some untouched
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE reference (LIKE callbacks INCLUDING ALL)")
        for table in ("callbacks", "reference"):
            conn.execute(
                f"INSERT INTO {table} (callback_id, kind, reason, requested_at, due_by)"  # noqa: S608
                " SELECT 'CB-' || n, 'dispatch', 'sampled', %s, %s"
                " FROM generate_series(0, 299) AS n", (_T0, _T0))
        conn.execute("ALTER TABLE callbacks RENAME TO batch")
        conn.execute("ALTER TABLE reference RENAME TO callbacks")
        for s in settled:
            _reference(conn, s)
        conn.execute("ALTER TABLE callbacks RENAME TO reference")
        conn.execute("ALTER TABLE batch RENAME TO callbacks")

    async def batch() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as aconn:
            await update_rows(aconn, settled, ["callback_id"])
            await aconn.commit()

    asyncio.run(batch())
    with psycopg.connect(dsn) as conn:
        cols = "callback_id, status, result_attempt, satisfaction, praise, report, completed_at"
        got = conn.execute(f"SELECT {cols} FROM callbacks ORDER BY 1").fetchall()  # noqa: S608
        want = conn.execute(f"SELECT {cols} FROM reference ORDER BY 1").fetchall()  # noqa: S608
    assert len(got) == 300
    assert got == want
