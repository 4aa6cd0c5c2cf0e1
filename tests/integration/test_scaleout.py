"""Scale-out (SPEC §9, §6): three ``claimdesk worker`` processes in one consumer group share
the partitions, and their read models and outputs equal those of one process over the same
input (same comparison rules as the chaos test, docs/reliability.md). When one of them
stops, its partitions move to the others, which go on without loss.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.chaos_helpers import (
    LoadWatcher,
    PacedPublisher,
    System,
    build_scenario,
    compare,
    compare_outputs,
    invariants,
    open_system,
    publish_events,
    read_outputs,
    snapshot,
    wait_settled,
)
from tests.integration.conftest import WorkerProcess, wait_until
from topics import V1_INPUT_TOPICS

pytestmark = pytest.mark.integration

_LAG = re.compile(r'^claimdesk_consumer_lag_messages\{([^}]*)\}', re.M)
# complaints come late in a case's life: the first half of the input may leave some
# complaint-filed partitions empty, so coverage is required of the three busy topics
BUSY = {(t, p) for t in V1_INPUT_TOPICS if t != "complaint-filed" for p in range(4)}


def owned(worker: WorkerProcess) -> set[tuple[str, int]]:
    """Input partitions this process owns and has consumed from (its lag gauges)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return set()
    out = set()
    for labels in _LAG.findall(text):
        kv = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out.add((kv["topic"], int(kv["partition"])))
    return out


def _split(workers: list[WorkerProcess]) -> list[set[tuple[str, int]]] | None:
    """Each worker's partitions, when every worker has some and together they cover the
    partitions of the busy topics."""
    parts = [owned(w) for w in workers]
    if all(parts) and set().union(*parts) >= BUSY:
        return parts
    return None


def _publish_paced(system: System, events: list, seconds: float) -> None:
    publisher = PacedPublisher(system.bootstrap, system.names, events, seconds, 8)
    publisher.start()
    publisher.done.wait(seconds * 4)
    assert publisher.error is None, publisher.error


def test_three_workers_equal_one_and_take_over_a_stopped_ones_partitions(
    bootstrap: str, base_dsn: str, tmp_path: Path
) -> None:
    scenario = build_scenario(800, seed=43)
    with open_system("one", bootstrap, base_dsn, tmp_path) as one:
        one.load_roster(scenario.roster)
        one.start_worker(0)
        publish_events(bootstrap, one.names, scenario.events)
        wait_settled(one, scenario.distinct, timeout=150)
        ref_snap, ref_out = snapshot(one, scenario), read_outputs(one)
        broken = invariants(one, ref_out, scenario)
        assert not broken, "\n".join(broken)

    with open_system("three", bootstrap, base_dsn, tmp_path) as three:
        three.load_roster(scenario.roster)
        workers = [three.start_worker(slot) for slot in range(3)]
        watcher = LoadWatcher(three)
        watcher.start()
        time.sleep(8)  # let the group settle on three members (Tansu: ≈ 4 s per join round)
        half = len(scenario.events) // 2
        _publish_paced(three, scenario.events[:half], 8)
        split = wait_until(lambda: _split(workers), timeout=60,
                           what="three processes sharing the input partitions")
        print("partitions per process:", [len(p) for p in split])
        assert not (split[0] & split[1] or split[0] & split[2] or split[1] & split[2])

        workers[2].stop()  # SIGTERM: a clean leave, its partitions move
        assert workers[2].proc is not None and workers[2].proc.returncode is not None
        _publish_paced(three, scenario.events[half:], 8)
        wait_settled(three, scenario.distinct, timeout=150)
        after = wait_until(lambda: _split(workers[:2]), timeout=60,
                           what="two processes covering the partitions")
        assert split[2] <= after[0] | after[1]
        assert watcher.finish() == [], "load above capacity during the run"
        print("load samples:", watcher.samples)
        snap, outputs = snapshot(three, scenario), read_outputs(three)
        assert [w.proc.poll() for w in workers[:2] if w.proc] == [None, None]
        broken = invariants(three, outputs, scenario)
        assert not broken, "\n".join(broken)

    differences = compare(ref_snap, snap) + compare_outputs(ref_out, outputs, ref_snap, snap,
                                                            scenario)
    assert not differences, "\n".join(differences)
