"""``claimdesk bench --smoke``: the harness runs end to end and reports sane numbers.

Timings are never asserted (CI machines vary); only that every phase produced a figure,
that percentiles are ordered, that the read models saw the whole workload, and that the
results file and table were written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench.harness import run_bench_command
from infra.settings import load_settings

pytestmark = pytest.mark.integration


def test_bench_smoke_reports_sane_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings().model_copy(update={"data_dir": tmp_path / "data"})
    out = tmp_path / "results"
    args = argparse.Namespace(events=200_000, smoke=True, out_dir=str(out))

    assert run_bench_command(settings, args) == 0

    results = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert not list(out.glob("*core.json")), "a smoke run must not write a dated results file"
    drain = results["drain"]
    assert drain["events"] == results["config"]["events"] == 5000
    assert drain["events_per_s"] > 0 and drain["seconds"] > 0
    assert drain["outcomes"].get("dead_lettered", 0) == 0
    assert drain["read_models"]["rm_cases"] > 0 and drain["read_models"]["rm_reviews"] > 0
    for name in ("aiokafka_getmany", "postgres_inbox_upsert", "faust_default"):
        assert results["ceilings"][name]["events_per_s"] > 0, name
    lat = results["latency"]
    assert lat["events"] > 0 and lat["publish_failures"] == 0
    assert 0 <= lat["min_ms"] <= lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert 0 < results["memory"]["peak_rss_mb"] < 10_000
    assert results["machine"]["cpus"] and results["date"]
    assert {t["target"] for t in results["targets"]} >= {"drain events/s, 1 worker", "peak RSS MB"}
    table = capsys.readouterr().out
    assert "pipeline drain, 1 worker" in table and "p99" in table
