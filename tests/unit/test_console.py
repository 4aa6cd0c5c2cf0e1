"""Console output (issue 16): log formats, hidden internals, banner, progress, settings errors."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from infra.errors import ConfigError
from infra.metrics import build_metrics
from infra.settings import known_variables, load_settings
from workers import cli
from workers.console import (
    JsonFormatter,
    banner,
    describe_database,
    progress_line,
    read_progress,
    setup_logging,
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root handler's stream, restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def _emit(stream: io.StringIO, level: str, fmt: str) -> list[str]:
    setup_logging(level, fmt)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("faust.transport.conductor").info("[^---Conductor]: Starting...")
    logging.getLogger("workers.app").info("[^--_Consumer]: Starting...")
    logging.getLogger("mode.supervisors").warning("supervisor restarted a service")
    logging.getLogger("aiokafka.consumer").info("fetch internals")
    logging.getLogger("aiokafka.producer.producer").debug("Sending (key=b'C-1' value=b'{PII}')")
    logging.getLogger("claimdesk").info("claimdesk worker is running\n  ops page x",
                                        extra={"fields": {"event": "banner", "ops_page": "x"}})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("workers.pipeline").exception("batch failed")
    return stream.getvalue().splitlines()


def test_text_hides_library_internals_below_warning(captured: io.StringIO) -> None:
    text = "\n".join(_emit(captured, "INFO", "text"))
    assert "Conductor" not in text and "_Consumer" not in text and "fetch internals" not in text
    assert "supervisor restarted a service" in text  # warnings of libraries are kept
    assert "claimdesk worker is running\n  ops page x" in text
    assert "ValueError: boom" in text


def test_debug_shows_the_internals(captured: io.StringIO) -> None:
    text = "\n".join(_emit(captured, "DEBUG", "text"))
    assert "[^---Conductor]: Starting..." in text and "[^--_Consumer]: Starting..." in text
    assert "fetch internals" in text
    assert "Sending (key=" not in text  # Kafka client DEBUG prints record values: PII


def test_json_is_one_object_per_line_with_fields(captured: io.StringIO) -> None:
    lines = _emit(captured, "INFO", "json")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) == 3
    by_logger = {r["logger"]: r for r in records}
    banner_rec = by_logger["claimdesk"]
    assert banner_rec["message"] == "claimdesk worker is running"
    assert (banner_rec["event"], banner_rec["ops_page"], banner_rec["level"]) == ("banner", "x", "info")
    assert "ValueError: boom" in by_logger["workers.pipeline"]["exc"]
    assert by_logger["mode.supervisors"]["level"] == "warning"
    assert all(r["time"].endswith("+00:00") for r in records)


def test_json_formatter_keeps_non_ascii_and_quotes() -> None:
    record = logging.LogRecord("claimdesk", logging.INFO, __file__, 1, 'surge in "温州市"', None, None)
    out = JsonFormatter().format(record)
    assert "\n" not in out and json.loads(out)["message"] == 'surge in "温州市"'


def test_banner_says_what_runs_where_and_how_to_stop() -> None:
    text, fields = banner("worker", ["4 consumers (a, b)", "outbox relay"], 9108,
                          [("broker", "k:9092")], 60)
    assert text.startswith("claimdesk worker is running\n")
    assert "http://127.0.0.1:9108/" in text and "/metrics" in text and "/healthz" in text
    assert "Ctrl-C" in text and "every 60 s" in text and "broker    k:9092" in text
    assert fields["ops_page"] == "http://127.0.0.1:9108/" and fields["broker"] == "k:9092"


def test_progress_reads_the_metrics() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    before = read_progress(registry)
    metrics.events_total.labels("case-reported", "applied").inc(40)
    metrics.events_total.labels("review-completed", "applied").inc(2)
    metrics.events_total.labels("review-completed", "dead_lettered").inc(1)
    metrics.consumer_lag_messages.labels("case-reported", "0").set(7)
    metrics.consumer_lag_messages.labels("case-reported", "1").set(3)
    metrics.consumer_lag_seconds.labels("case-reported").set(12.4)
    metrics.alerts_open.labels(kind="surge").set(1)
    metrics.alerts_open.labels(kind="backlog").set(2)
    metrics.outbox_pending.set(5)
    now = read_progress(registry)
    assert (now.applied, now.dead_lettered, now.lag_messages, now.outbox_pending) == (42, 1, 10, 5)
    assert now.alerts_open == {"backlog": 2, "surge": 1}
    text, fields = progress_line(now, before, 60)
    assert text == ("progress: 42 events applied (+42 in 60 s), lag 10 messages / 12 s, "
                    "3 open alerts (backlog 2, surge 1), 1 dead-lettered, outbox 5 pending")
    assert fields["events_applied"] == 42 and fields["lag_seconds"] == 12.4


def test_database_description_never_shows_credentials() -> None:
    assert describe_database("postgresql://app:s3cret@db.internal:5433/claims", False) == \
        "db.internal:5433/claims"
    assert "s3cret" not in describe_database("host=db password=s3cret", False)
    assert describe_database("postgresql://postgres@/postgres?host=/tmp/pg", False) == \
        "socket in /tmp/pg"
    assert describe_database(None, True) == "embedded Postgres"


# ------------------------------------------------------------------ settings errors


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("CLAIMDESK_") or name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CLAIMDESK_METRIC_PORT", "9108", "did you mean CLAIMDESK_METRICS_PORT?"),
        ("CLAIMDESK_PREFIX", "x", "is not a claimdesk setting"),
        ("CLAIMDESK_METRICS_PORT", "ninety", "valid integer"),
        ("CLAIMDESK_METRICS_PORT", "70000", "from 1 to 65535"),
        ("CLAIMDESK_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("CLAIMDESK_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
        ("CLAIMDESK_PROGRESS_SECONDS", "0", "greater than 0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "broker-without-port", "host:port"),
        ("DATABASE_URL", "mysql://root:hunter2@db/claims", "postgresql://"),
        ("CLAIMDESK_PII_DATABASE_URL", "mysql://pii:hunter2@db/claims", "postgresql://"),
    ],
)
def test_bad_settings_stop_naming_the_variable(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str,
    says: str,
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert name in str(info.value) and says in str(info.value)
    assert "hunter2" not in str(info.value)
    assert cli.main(["migrate"]) == 2  # stops before touching anything
    err = capsys.readouterr().err
    assert err.startswith("claimdesk: ") and name in err and "hunter2" not in err


def test_a_bad_policy_file_stops_before_anything_starts(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults.sla]\npaymnet = \"5d\"\n", encoding="utf-8")
    clean_env.setenv("CLAIMDESK_POLICY_FILE", str(policy))
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "CLAIMDESK_POLICY_FILE" in err and "defaults.sla.paymnet: unknown key" in err
    clean_env.setenv("CLAIMDESK_POLICY_FILE", str(tmp_path / "missing.toml"))
    assert cli.main(["migrate"]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_good_settings_load(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLAIMDESK_LOG_FORMAT", "json")
    clean_env.setenv("CLAIMDESK_LOG_LEVEL", "debug")
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092, [::1]:9093")
    clean_env.setenv("CLAIMDESK_PII_DATABASE_URL", "postgresql://pii@db/claims")
    clean_env.setenv("CLAIMDESK_FUZZ_COUNT", "10")  # test harness knobs are allowed
    settings = load_settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert "CLAIMDESK_TOPIC_PREFIX" in known_variables()


def test_every_claimdesk_variable_the_code_reads_is_known() -> None:
    """A knob read from the environment but unknown to load_settings would stop the CLI."""
    import re

    root = Path(__file__).resolve().parents[2]
    read = set()
    for folder in ("workers", "infra", "schemas", "topics", "bench", "tests"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            read |= set(re.findall(r"""environ(?:\.get\(|\[)\s*["'](CLAIMDESK_[A-Z_]+)["']""", text))
            read |= set(re.findall(r"""getenv\(\s*["'](CLAIMDESK_[A-Z_]+)["']""", text))
    assert read, "the scan found nothing: the pattern is broken"
    assert read - known_variables() == set()
