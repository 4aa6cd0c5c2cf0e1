"""Case lifecycle end to end on a real worker: routing, review chain, payouts, parking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from schemas import payout_id
from tests.integration import builders as b
from tests.integration.conftest import wait_until
from tests.integration.kafka_helpers import event_bytes, publish, read_all
from topics import TopicNames

pytestmark = pytest.mark.integration


def _send(bootstrap: str, names: TopicNames, topic: str, *events: dict[str, Any]) -> None:
    publish(bootstrap, names.name(topic), [(e["subject"], event_bytes(e)) for e in events])


def _rows(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, args).fetchall())


def _status(dsn: str, case_id: str) -> str | None:
    rows = _rows(dsn, "SELECT status FROM rm_cases WHERE case_id = %s", case_id)
    return rows[0][0] if rows else None


def load_roster(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``claimdesk roster load`` as an operator would."""
    return subprocess.run([sys.executable, "-m", "workers.cli", "roster", "load", str(path)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_review_chain_paths_end_in_the_right_payouts(
    bootstrap: str, names: TopicNames, dsn: str, worker_env: dict[str, str], start_worker: Any,
    tmp_path: Path,
) -> None:
    assert load_roster(worker_env, b.roster_file(tmp_path)).returncode == 0
    start_worker()
    cases = [b.case("C-FAST", amount="3200.00"), b.case("C-STD", amount="8000.00"),
             b.case("C-JOINT", injuries=1), b.case("C-REJ"), b.case("C-DOCS"),
             b.case("C-WRONG")]
    _send(bootstrap, names, "case-reported", *cases)
    _send(bootstrap, names, "dispatch-requested", b.dispatch("D-FAST", "C-FAST"))
    wait_until(lambda: _status(dsn, "C-FAST") == "dispatched", what="C-FAST dispatched")
    _send(bootstrap, names, "review-completed",
          b.review("R-FAST-S", "C-FAST", "survey", "completed", at=60, amount="2980.00",
                   dispatch_id="D-FAST"),
          b.review("R-FAST-I", "C-FAST", "initial", "approved", at=120, amount="2980.00"),
          b.review("R-STD-I", "C-STD", "initial", "approved", at=120, amount="8000.00"),
          b.review("R-STD-II", "C-STD", "second", "approved", at=180, amount="8000.00"),
          b.review("R-J-I", "C-JOINT", "initial", "approved", at=120, amount="3000.00"),
          b.review("R-J-II", "C-JOINT", "second", "approved", at=180, amount="3000.00"),
          b.review("R-J-III", "C-JOINT", "joint", "approved", at=240, amount="3000.00"),
          b.review("R-REJ-I", "C-REJ", "initial", "rejected", at=120),
          b.review("R-DOCS-1", "C-DOCS", "initial", "documents_requested", at=120),
          b.review("R-DOCS-2", "C-DOCS", "initial", "approved", at=600, amount="1000.00"),
          b.review("R-WRONG", "C-WRONG", "second", "approved", at=120, amount="10.00"))
    expected = {"C-FAST": ("R-FAST-I", "fast_track", "2980.00"),
                "C-STD": ("R-STD-II", "standard", "8000.00"),
                "C-JOINT": ("R-J-III", "joint", "3000.00"),
                "C-DOCS": ("R-DOCS-2", "fast_track", "1000.00")}
    published = read_all(bootstrap, names.name("payout-approved"), expect=len(expected))
    by_case = {json.loads(p.value)["data"]["case_id"]: json.loads(p.value)["data"]
               for p in published}
    assert set(by_case) == set(expected)
    for case_id, (review_id, path, amount) in expected.items():
        data = by_case[case_id]
        assert data["payout_id"] == payout_id(case_id, review_id)
        assert (data["approval_path"], data["amount"], data["currency"]) == (path, amount, "CNY")
    assert {c: _status(dsn, c) for c in ("C-FAST", "C-REJ", "C-WRONG")} == {
        "C-FAST": "approved", "C-REJ": "rejected", "C-WRONG": "reported"}
    wrong = _rows(dsn, "SELECT outcome FROM rm_case_timeline WHERE event_id IN"
                       " (SELECT event_id FROM reviews WHERE review_id = 'R-WRONG')")
    assert wrong == [("refused",)]
    assert _rows(dsn, "SELECT kind FROM rm_data_quality WHERE subject_id = 'C-WRONG'") == [
        ("wrong_stage",)]
    assigned = read_all(bootstrap, names.name("dispatch-assigned"), expect=1)
    first = json.loads(assigned[0].value)["data"]
    assert (first["status"], first["adjuster_id"]) == ("assigned", "ADJ-GD-0042")
    assert _rows(dsn, "SELECT status FROM rm_dispatches WHERE dispatch_id = 'D-FAST'") == [
        ("surveyed",)]
    docs_clock = _rows(dsn, "SELECT paused, stopped_at IS NOT NULL FROM rm_sla_clocks"
                            " WHERE subject_id = 'C-DOCS' AND clock = 'determination'")
    assert docs_clock == [(False, True)]


def test_reviews_before_their_case_are_parked_then_applied_once(
    bootstrap: str, names: TopicNames, dsn: str, start_worker: Any,
) -> None:
    start_worker()
    _send(bootstrap, names, "review-completed",
          b.review("R-P-S", "C-PARK", "survey", "completed", at=60, amount="900.00",
                   dispatch_id="D-PARK"),
          b.review("R-P-I", "C-PARK", "initial", "approved", at=120, amount="900.00"))
    wait_until(lambda: len(_rows(dsn, "SELECT 1 FROM parked_events")) == 2, what="2 parked")
    # the survey closed its dispatch at once, although neither case nor dispatch is known
    assert _rows(dsn, "SELECT status FROM rm_dispatches WHERE dispatch_id = 'D-PARK'") == [
        ("surveyed",)]
    _send(bootstrap, names, "case-reported", b.case("C-PARK", amount="900.00"))
    wait_until(lambda: _status(dsn, "C-PARK") == "approved", what="parked reviews applied")
    assert _rows(dsn, "SELECT count(*) FROM parked_events") == [(0,)]
    payouts = read_all(bootstrap, names.name("payout-approved"), expect=1)
    assert json.loads(payouts[0].value)["data"]["payout_id"] == payout_id("C-PARK", "R-P-I")
    # the dispatch arrives last: recorded as surveyed, never assigned
    _send(bootstrap, names, "dispatch-requested", b.dispatch("D-PARK", "C-PARK", at=5))
    wait_until(lambda: _rows(dsn, "SELECT requested_at IS NOT NULL FROM rm_dispatches"
                                  " WHERE dispatch_id = 'D-PARK'") == [(True,)])
    assert _rows(dsn, "SELECT status, adjuster_id FROM rm_dispatches"
                      " WHERE dispatch_id = 'D-PARK'") == [("surveyed", None)]


def test_queue_drains_when_a_survey_frees_capacity(
    bootstrap: str, names: TopicNames, dsn: str, worker_env: dict[str, str], start_worker: Any,
    tmp_path: Path,
) -> None:
    roster = tmp_path / "one.csv"
    roster.write_text("adjuster_id,name,province,cities,skills,capacity,active\n"
                      "ADJ-1,李强,广东省,深圳市,auto,1,true\n", encoding="utf-8")
    assert load_roster(worker_env, roster).returncode == 0
    start_worker()
    _send(bootstrap, names, "dispatch-requested", b.dispatch("D-1", "C-Q1", at=1))
    wait_until(lambda: len(_rows(dsn, "SELECT 1 FROM rm_dispatches")) == 1)
    _send(bootstrap, names, "dispatch-requested",
          b.dispatch("D-2", "C-Q2", at=2, urgency="normal"), b.dispatch("D-3", "C-Q3", at=3))
    wait_until(lambda: len(_rows(dsn, "SELECT 1 FROM rm_dispatches")) == 3)
    assert _rows(dsn, "SELECT dispatch_id, status FROM rm_dispatches ORDER BY 1") == [
        ("D-1", "assigned"), ("D-2", "queued"), ("D-3", "queued")]
    _send(bootstrap, names, "review-completed",
          b.review("R-Q1", "C-Q1", "survey", "completed", at=90, amount="100.00",
                   dispatch_id="D-1"))
    # urgent D-3 goes before the older normal D-2
    wait_until(lambda: _rows(dsn, "SELECT status FROM rm_dispatches WHERE dispatch_id = 'D-3'")
               == [("assigned",)], what="D-3 assigned from the queue")
    assert _rows(dsn, "SELECT status FROM rm_dispatches WHERE dispatch_id = 'D-2'") == [
        ("queued",)]
    assert _rows(dsn, "SELECT load FROM rm_adjuster_load WHERE adjuster_id = 'ADJ-1'") == [(1,)]


def test_complaints_merge_and_close(
    bootstrap: str, names: TopicNames, dsn: str, start_worker: Any,
) -> None:
    start_worker()
    _send(bootstrap, names, "complaint-filed",
          b.complaint("CP-1", "C-CP", at=10, against="ADJ-GD-0042"),
          b.complaint("CP-2", "C-CP", at=20), b.complaint("CP-3", None, at=30))
    wait_until(lambda: len(_rows(dsn, "SELECT 1 FROM rm_complaints")) == 3)
    assert _rows(dsn, "SELECT complaint_id, status, merged_into, owner FROM rm_complaints"
                      " ORDER BY 1") == [
        ("CP-1", "open", None, "ADJ-GD-0042"), ("CP-2", "merged", "CP-1", "complaint_desk"),
        ("CP-3", "open", None, "complaint_desk")]
    _send(bootstrap, names, "review-completed",
          b.review("R-CP-1", "C-CP", "complaint", "upheld", at=100, complaint_id="CP-1"),
          b.review("R-CP-9", None, "complaint", "dismissed", at=100, complaint_id="CP-9"))
    wait_until(lambda: _rows(dsn, "SELECT status FROM rm_complaints WHERE complaint_id = 'CP-1'")
               == [("upheld",)])
    wait_until(lambda: len(_rows(dsn, "SELECT 1 FROM parked_events")) == 1, what="CP-9 parked")
    assert _rows(dsn, "SELECT stopped_at IS NOT NULL FROM rm_sla_clocks"
                      " WHERE subject_id = 'CP-1' AND clock = 'complaint'") == [(True,)]
