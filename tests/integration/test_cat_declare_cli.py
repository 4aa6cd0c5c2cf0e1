"""``claimdesk cat declare`` end to end: it publishes one valid catastrophe.declared (key
cat_code, CloudEvents header), a worker applies it, and a bad argument publishes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import wait_until
from tests.integration.kafka_helpers import read_all
from topics import TopicNames

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workers.cli", "cat", "declare", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cat_declare_publishes_and_a_worker_applies_it(
    bootstrap: str, names: TopicNames, dsn: str, worker_env: dict[str, str], start_worker: Any,
) -> None:
    bad = _cli(worker_env, "--code", "TY-1", "--name", "台风", "--peril", "volcano",
               "--area", "浙江省/温州市", "--from", "2026-07-27T20:00:00+08:00")
    assert bad.returncode == 2 and "--peril" in bad.stderr and "Traceback" not in bad.stderr
    ok = _cli(worker_env, "--code", "TY-2026-21", "--name", "台风“杜苏芮”", "--peril", "typhoon",
              "--area", "浙江省/温州市", "--area", "福建省", "--from", "2026-07-27T20:00:00+08:00",
              "--declared-at", "2026-07-28T07:25:00+08:00")
    assert ok.returncode == 0, ok.stderr
    (rec,) = read_all(bootstrap, names.name("catastrophe-declared"), expect=1)
    assert rec.key == b"TY-2026-21"
    assert rec.headers["content-type"] == b"application/cloudevents+json"
    event = json.loads(rec.value)
    assert event["data"]["areas"] == [{"province": "浙江省", "city": "温州市"},
                                      {"province": "福建省", "city": None}]
    start_worker()

    def applied() -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn) as conn:
            return list(conn.execute("SELECT cat_code, versions FROM rm_catastrophes").fetchall())

    assert wait_until(applied, timeout=120, what="the declaration applied") == [("TY-2026-21", 1)]
