"""Walking skeleton: samples flow through a real worker into Postgres; garbage goes to DLT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import wait_until
from tests.integration.kafka_helpers import event_bytes, publish, read_all
from topics import TopicNames

pytestmark = pytest.mark.integration

SAMPLES = {
    "case-reported": ["case.reported.json"],
    "dispatch-requested": ["dispatch.requested.json"],
    "review-completed": ["review.completed.survey.json", "review.completed.initial.json",
                         "review.completed.complaint.json"],
    "complaint-filed": ["complaint.filed.json"],
}


def _load(examples: Path, name: str) -> dict[str, Any]:
    return json.loads((examples / name).read_text(encoding="utf-8"))


def _count(dsn: str, sql: str, *args: Any) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def _publish_samples(bootstrap: str, names: TopicNames, examples: Path, times: int = 1) -> int:
    n = 0
    for topic, files in SAMPLES.items():
        for f in files:
            ev = _load(examples, f)
            n += publish(bootstrap, names.name(topic), [(ev["subject"], event_bytes(ev))] * times)
    return n


def test_every_sample_event_reaches_the_timeline(
    bootstrap: str, names: TopicNames, dsn: str, examples: Path, start_worker: Any
) -> None:
    start_worker()
    n = _publish_samples(bootstrap, names, examples)
    # a review that overtakes its case (the agents run concurrently) gets a 'parked' row
    # first and its effect row when the case arrives: wait for, and compare, effect rows
    effects = "FROM rm_case_timeline WHERE outcome <> 'parked'"
    wait_until(lambda: _count(dsn, f"SELECT count(*) {effects}") >= n, what="timeline rows")
    with psycopg.connect(dsn) as conn:
        types = sorted(r[0] for r in conn.execute(f"SELECT event_type {effects}"))
        left_parked = conn.execute("SELECT count(*) FROM parked_events").fetchone()
    assert types == sorted(["case.reported", "dispatch.requested", "review.completed",
                            "review.completed", "review.completed", "complaint.filed"])
    assert left_parked == (0,)


def test_publishing_every_event_twice_changes_nothing(
    bootstrap: str, names: TopicNames, dsn: str, examples: Path, start_worker: Any
) -> None:
    start_worker()
    n = _publish_samples(bootstrap, names, examples, times=2)
    assert n == 12
    # the sample case is fast-tracked: its payout is the last effect of the six events
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM rm_payouts") == 1, what="payout")
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM rm_complaints WHERE status = 'upheld'"))
    assert _count(dsn, "SELECT count(*) FROM inbox") == 6
    with psycopg.connect(dsn) as conn:
        # a review may be recorded twice (parked, then applied), never twice the same way
        repeated = conn.execute("SELECT source, event_id, outcome FROM rm_case_timeline"
                                " GROUP BY 1, 2, 3 HAVING count(*) > 1").fetchall()
        status = conn.execute("SELECT status FROM rm_cases").fetchall()
        payouts = conn.execute("SELECT count(*) FROM outbox WHERE topic = 'payout-approved'"
                               ).fetchall()
    assert repeated == []
    assert status == [("approved",)]
    assert payouts == [(1,)]


def test_garbage_goes_to_the_dlt_and_the_valid_event_behind_it_is_applied(
    bootstrap: str, names: TopicNames, dsn: str, examples: Path, start_worker: Any
) -> None:
    start_worker()
    good = _load(examples, "case.reported.json")
    wrong_enum = json.loads(json.dumps(good))
    wrong_enum["id"] = "bad-enum-1"
    wrong_enum["data"]["line"] = "spaceship"
    key = good["subject"]
    huge = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    messages = [
        (key, b"{not json"),
        (key, event_bytes(wrong_enum)),
        (key, huge),
        (key, b"\xff\xfe\x00garbage"),
        (key, event_bytes(good)),
    ]
    publish(bootstrap, names.name("case-reported"), messages)
    dead = read_all(bootstrap, names.dlt("case-reported"), expect=4)
    codes = sorted(d.headers["claimdesk.error.code"].decode() for d in dead)
    assert codes == ["invalid_json", "invalid_utf8", "schema", "too_large"]
    by_code = {d.headers["claimdesk.error.code"].decode(): d for d in dead}
    assert "data.line" in by_code["schema"].headers["claimdesk.error.message"].decode()
    assert "spaceship" not in by_code["schema"].headers["claimdesk.error.message"].decode()
    assert by_code["too_large"].value in (b"", None)
    assert by_code["too_large"].headers["claimdesk.original.size"] == str(len(huge)).encode()
    assert by_code["schema"].value == event_bytes(wrong_enum)
    for d in dead:
        assert d.key == key.encode()
        assert d.headers["claimdesk.original.topic"] == names.name("case-reported").encode()
        assert int(d.headers["claimdesk.original.offset"]) >= 0
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM rm_case_timeline WHERE event_id = %s",
                              good["id"]) == 1, what="valid event applied")
    assert _count(dsn, "SELECT count(*) FROM inbox WHERE event_id = 'bad-enum-1'") == 0


def test_metrics_and_healthz_count_applied_events(
    bootstrap: str, names: TopicNames, dsn: str, examples: Path, start_worker: Any
) -> None:
    import urllib.request

    worker = start_worker()
    ev = _load(examples, "case.reported.json")
    publish(bootstrap, names.name("case-reported"), [(ev["subject"], event_bytes(ev))])
    url = f"http://127.0.0.1:{worker.port}"

    def applied() -> bool:
        try:
            body = urllib.request.urlopen(url + "/metrics", timeout=2).read().decode()
        except OSError:
            return False
        return 'claimdesk_events_total{outcome="applied",topic="case-reported"} 1.0' in body

    wait_until(applied, what="/metrics counting the applied event")
    assert urllib.request.urlopen(url + "/healthz", timeout=2).status == 200


def test_dlt_replay_republishes_valid_dead_letters_once(
    bootstrap: str, names: TopicNames, dsn: str, examples: Path, worker_env: dict[str, str],
    start_worker: Any,
) -> None:
    import subprocess
    import sys

    start_worker()
    good = _load(examples, "case.reported.json")
    bad = json.loads(json.dumps(good))
    bad["id"] = "still-bad"
    bad["data"]["line"] = "spaceship"
    # a valid event that was dead-lettered earlier (e.g. by an older schema version)
    publish(bootstrap, names.dlt("case-reported"),
            [(good["subject"], event_bytes(good)), (bad["subject"], event_bytes(bad))])

    def replay() -> str:
        done = subprocess.run([sys.executable, "-m", "workers.cli", "dlt", "replay",
                               "case-reported"], env=worker_env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "replayed 1, still invalid 1" in replay()
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM rm_cases WHERE case_id = %s",
                              good["data"]["case_id"]) == 1, what="replayed case applied")
    assert "replayed 0, still invalid 1, already replayed 1" in replay()


def test_a_database_data_error_dead_letters_only_that_event(
    bootstrap: str, names: TopicNames, dsn: str, start_worker: Any
) -> None:
    from tests.integration import builders as b

    start_worker()
    good = [b.case(f"C-OK-{n}") for n in range(3)]
    poison = b.case("C-NUL")
    poison["data"]["incident"]["description"] = "nul \u0000 byte"  # valid JSON, not storable
    events = [good[0], poison, good[1], good[2]]
    publish(bootstrap, names.name("case-reported"),
            [(e["subject"], event_bytes(e)) for e in events])
    dead = read_all(bootstrap, names.dlt("case-reported"), expect=1)
    assert dead[0].headers["claimdesk.error.code"] == b"unprocessable"
    assert b"nul" not in dead[0].headers["claimdesk.error.message"]
    wait_until(lambda: _count(dsn, "SELECT count(*) FROM rm_cases") == 3, what="3 good cases")
    assert _count(dsn, "SELECT count(*) FROM inbox WHERE event_id = %s", poison["id"]) == 0
