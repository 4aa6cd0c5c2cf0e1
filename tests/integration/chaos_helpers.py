"""Shared machinery of the reliability tests (chaos, outages, scale-out).

- :func:`build_scenario` — one simulator input used by every run of a test: a past run
  (data 3 weeks old: every SLA clock but the 30-day one is due, so the sweeper is busy)
  plus a surge burst in a still-open future window (deterministic surge alerts), and a
  roster with ample capacity everywhere except one contended province;
- :class:`System` — a schema + topic prefix + consumer group, with worker processes;
- :func:`wait_settled`, :func:`snapshot`, :func:`read_outputs` — the final state;
- :func:`compare` and :func:`invariants` — what must equal a reference run, and what
  must hold in any run (docs/reliability.md explains every rule).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from infra.db import migrate
from infra.embedded import free_port
from infra.kafka import create_topics
from infra.outbox import RELAY_LOCK
from tests.integration.conftest import (
    PARKED_WAITING_SQL,
    WorkerProcess,
    dsn_with_schema,
    wait_until,
)
from tests.integration.test_lifecycle import load_roster
from topics import DISPATCH_ASSIGNED, OUTPUT_TOPICS, PAYOUT_APPROVED, TopicNames
from workers.sim import data as simdata
from workers.sim.model import SimEvent
from workers.sim.publish import make_producer, send
from workers.simulate import generate, roster, write_roster_csv

CST = timezone(timedelta(hours=8))
CONTENDED_PROVINCES = frozenset({"广东省"})
SURGE_CITY = "成都市"  # in an ample-capacity province
SURVEY_FIRST = "surveyed before the request arrived"


# --------------------------------------------------------------------------- scenario


@dataclass
class Scenario:
    """The input of a test and what the comparison must leave out."""

    events: list[SimEvent]
    roster: list[dict[str, str]]
    distinct: int  # distinct (source, id) identities published
    #: outcome depends on when the surge alert opened (SPEC §4.3), or (v2) the case is
    #: withdrawn: what its survey and dispatch did depends on whether they were applied
    #: before the withdrawal (SPEC §4.9); those are checked by rule (:func:`invariants`)
    excluded_cases: set[str]
    burst_cases: set[str]  # cases of the future surge window: cat_mode is timing-dependent
    compare_days_before: date  # rm_daily_stats rows compared: days before this one
    expected_status: dict[str, str] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)


def mixed_roster(seed: int) -> list[dict[str, str]]:
    """Ample capacity (one all-skill adjuster per city) except in the contended provinces,
    which keep the simulator's roster with capacity cut to 1–2 so dispatches queue."""
    rng = random.Random(f"chaos-roster:{seed}")
    rows = []
    for row in roster(seed):
        if row["province"] in CONTENDED_PROVINCES:
            rows.append(dict(row, capacity=str(rng.randint(1, 2))))
    for n, city in enumerate(simdata.CITIES):
        if city.province in CONTENDED_PROVINCES:
            continue
        rows.append({
            "adjuster_id": f"ADJ-{city.prov_code}-9{n:03d}", "name": "测试员",
            "province": city.province, "cities": city.name, "skills": ";".join(simdata.SKILLS),
            "capacity": "100000", "active": "true",
        })
    return rows


def build_scenario(n_cases: int, seed: int, now: datetime | None = None,
                   surge_cases: int = 60) -> Scenario:
    """A past run of ``n_cases`` (5 % duplicates, shuffled in blocks of 300) + a future surge."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rows = mixed_roster(seed)
    spread = timedelta(days=2) * max(1.0, n_cases / 1500)  # ≈ the same density at any size
    past = generate(n_cases, seed=seed, start=now - timedelta(days=22), spread=spread,
                    dup_fraction=0.05, shuffle_window=300, adjusters=rows)
    burst = generate(0, seed=seed + 1, start=now + timedelta(hours=2),
                     spread=timedelta(minutes=20), surge_city=SURGE_CITY,
                     surge_cases=surge_cases, dup_fraction=0.05, shuffle_window=50,
                     adjusters=rows)
    events = past.events + held_dispatches(past.events, rows) + burst.events
    identities = {(json.loads(e.value)["source"], e.event_id) for e in events}
    return Scenario(
        events=events, roster=rows, distinct=len(identities),
        excluded_cases=(past.expected.surge_sensitive | burst.expected.surge_sensitive
                        | past.expected.withdrawn | burst.expected.withdrawn),
        burst_cases=set(burst.expected.status),
        compare_days_before=(now - timedelta(days=2)).astimezone(CST).date(),
        expected_status={**past.expected.status, **burst.expected.status},
        withdrawn=past.expected.withdrawn | burst.expected.withdrawn,
    )


def held_dispatches(events: Sequence[SimEvent], rows: list[dict[str, str]],
                    spare: int = 2) -> list[SimEvent]:
    """Copies of one contended-province dispatch request (new dispatch and event ids, same
    data otherwise) that are never surveyed: one more than the capacity of every adjuster
    of that province with its skill, plus ``spare``. They hold capacity for good, so at
    least ``spare`` of them are queued in any run, whatever order the agents apply the
    topics in (survey-first placeholders make queueing of the simulator's own dispatches
    timing-dependent). Their case's status does not change (it has a dispatch already).
    """
    for ev in events:
        envelope = json.loads(ev.value)
        data = envelope["data"]
        if (ev.topic != "dispatch-requested" or ev.duplicate
                or data["location"]["province"] not in CONTENDED_PROVINCES):
            continue
        capacity = sum(int(r["capacity"]) for r in rows
                       if r["province"] == data["location"]["province"]
                       and data["skill"] in r["skills"].split(";"))
        held = []
        for n in range(capacity + spare):
            copy = dict(envelope, id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"held:{ev.event_id}:{n}")),
                        data=dict(data, dispatch_id=f"{data['dispatch_id']}-held-{n}"))
            held.append(SimEvent(ev.topic, ev.key,
                                 json.dumps(copy, ensure_ascii=False).encode(),
                                 ev.data_time, copy["id"]))
        return held
    raise AssertionError("the scenario has no dispatch in a contended province")


# --------------------------------------------------------------------------- systems


class System:
    """One deployment under test: its own schema, topic prefix, consumer group, workers."""

    def __init__(self, label: str, bootstrap: str, base_dsn: str, tmp: Path) -> None:
        self.label = label
        self.bootstrap = bootstrap
        self.base_dsn = base_dsn
        self.tmp = tmp
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"t_{label}_{suffix}"
        self.names = TopicNames(f"t{label}{suffix}.")
        self.dsn = dsn_with_schema(base_dsn, self.schema)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
        self.env.update(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=self.dsn,
            CLAIMDESK_TOPIC_PREFIX=self.names.prefix,
            CLAIMDESK_CONSUMER_GROUP=f"g-{self.names.prefix}",
            CLAIMDESK_DATA_DIR=str(tmp / f"{label}-data"),
        )
        self.started: list[WorkerProcess] = []
        self.slots: dict[int, WorkerProcess] = {}

    def create(self) -> System:
        """Create and migrate the schema and create the topics."""
        with psycopg.connect(self.base_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        migrate(self.dsn)
        create_topics(self.bootstrap, self.names)
        return self

    def drop(self) -> None:
        """Stop every worker and drop the schema."""
        for w in self.started:
            w.stop(kill=True)
        with psycopg.connect(self.base_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def load_roster(self, rows: Sequence[dict[str, str]]) -> None:
        """``claimdesk roster load`` of ``rows``."""
        path = write_roster_csv(self.tmp / f"{self.label}-roster.csv", rows)
        done = load_roster(self.env, path)
        assert done.returncode == 0, done.stderr

    def app_name(self, slot: int) -> str:
        """``application_name`` of a slot's Postgres sessions (PGAPPNAME)."""
        return f"{self.label}-w{slot}"

    def start_worker(self, slot: int) -> WorkerProcess:
        """Start (or restart) the worker of ``slot``."""
        env = dict(self.env, CLAIMDESK_METRICS_PORT=str(free_port()), PGAPPNAME=self.app_name(slot))
        log = self.tmp / f"{self.label}-w{slot}-{len(self.started)}.log"
        w = WorkerProcess(env, log).start()
        self.started.append(w)
        self.slots[slot] = w
        return w

    def alive(self) -> list[WorkerProcess]:
        """Current workers of every slot that are running."""
        return [w for w in self.slots.values() if w.proc is not None and w.proc.poll() is None]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query in the system's schema."""
        with psycopg.connect(self.dsn) as conn:
            return list(conn.execute(sql, params).fetchall())


@contextmanager
def open_system(label: str, bootstrap: str, base_dsn: str, tmp: Path) -> Iterator[System]:
    """A created :class:`System`, dropped at the end."""
    system = System(label, bootstrap, base_dsn, tmp).create()
    try:
        yield system
    finally:
        system.drop()


# --------------------------------------------------------------------------- publishing


def publish_events(bootstrap: str, names: TopicNames, events: Sequence[SimEvent]) -> None:
    """Publish simulator events in order and flush."""
    producer = make_producer(bootstrap, client_id="claimdesk-chaos")
    failures: list[BaseException] = []
    try:
        for e in events:
            send(producer, names, e).add_errback(failures.append)
        producer.flush()
    finally:
        producer.close()
    assert not failures, f"{len(failures)} records failed: {type(failures[0]).__name__}"


class PacedPublisher(threading.Thread):
    """Publishes events in ``slices`` spread over ``seconds`` (so kills land mid-stream)."""

    def __init__(self, bootstrap: str, names: TopicNames, events: Sequence[SimEvent],
                 seconds: float, slices: int) -> None:
        super().__init__(daemon=True)
        self.args = (bootstrap, names, list(events), seconds, slices)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        bootstrap, names, events, seconds, slices = self.args
        try:
            size = -(-len(events) // slices)
            for n in range(slices):
                began = time.monotonic()
                publish_events(bootstrap, names, events[n * size:(n + 1) * size])
                time.sleep(max(0.0, seconds / slices - (time.monotonic() - began)))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.done.set()


# --------------------------------------------------------------------------- probes

_DUE_UNSWEPT = (
    "SELECT count(*) FROM sla_clocks WHERE stopped_at IS NULL AND paused_since IS NULL"
    " AND ((warned_at IS NULL AND warn_at <= now()) OR (breached_at IS NULL AND due_at <= now()))"
    # a mark not escalated yet (SPEC §4.11): the next sweep raises it
    " OR (warned_at IS NOT NULL AND NOT warn_escalated)"
    " OR (breached_at IS NOT NULL AND NOT breach_escalated)"
)


def relay_holder(conn: psycopg.Connection[Any], label: str) -> str | None:
    """``application_name`` of the worker inside an outbox relay pass (holding its lock)
    while rows are unpublished (committed unpublished rows seen while the lock is held are
    the ones that pass is publishing: kill it now and they are re-published later)."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
        " AND l.objsubid = 1 AND a.application_name LIKE %s"
        " AND EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)",
        (RELAY_LOCK >> 32, RELAY_LOCK & 0xFFFFFFFF, f"{label}-w%")).fetchone()
    return row[0] if row else None


def sweeping(conn: psycopg.Connection[Any], label: str) -> str | None:
    """``application_name`` of a worker inside an SLA sweep transaction while clocks are
    due (uncommitted marks are invisible here: the due clocks seen are the ones it marks)."""
    row = conn.execute(
        "SELECT application_name FROM pg_stat_activity WHERE state <> 'idle'"
        " AND query LIKE '%%FOR UPDATE SKIP LOCKED%%' AND query LIKE '%%sla_clocks%%'"
        " AND application_name LIKE %s AND EXISTS (" + _DUE_UNSWEPT + ")",
        (f"{label}-w%",)).fetchone()
    return row[0] if row else None


def backlog(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(unpublished outbox rows, running clocks the sweeper still has to mark)."""
    pending = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    due = conn.execute(_DUE_UNSWEPT).fetchone()
    return (int(pending[0]) if pending else 0, int(due[0]) if due else 0)


def overloaded(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Adjusters whose open load exceeds capacity (must always be empty)."""
    return list(conn.execute(
        "SELECT adjuster_id, load, capacity FROM rm_adjuster_load WHERE load > capacity"
    ).fetchall())


class LoadWatcher(threading.Thread):
    """Samples ``rm_adjuster_load`` every few ms during a run: load must never exceed
    capacity, not even for a moment (SPEC §4.2, "with several workers too")."""

    def __init__(self, system: System, every_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.system = system
        self.every_s = every_s
        self.stop = threading.Event()
        self.samples = 0
        self.overloads: list[tuple[Any, ...]] = []

    def run(self) -> None:
        with psycopg.connect(self.system.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                self.overloads += overloaded(conn)
                self.samples += 1
                time.sleep(self.every_s)

    def finish(self) -> list[tuple[Any, ...]]:
        """Stop sampling; the overloads seen."""
        self.stop.set()
        self.join(10)
        return self.overloads


def wait_settled(system: System, distinct: int, timeout: float) -> None:
    """Every identity in the inbox, nothing parked, outbox published, sweeper caught up."""

    last: list[tuple[int, ...]] = []

    def settled() -> bool:
        (inbox, parked, pending, due), = system.rows(
            "SELECT (SELECT count(*) FROM inbox), (" + PARKED_WAITING_SQL + "),"
            " (SELECT count(*) FROM outbox WHERE published_at IS NULL), (" + _DUE_UNSWEPT + ")")
        last[:] = [(inbox, parked, pending, due)]
        return inbox >= distinct and parked == 0 and pending == 0 and due == 0

    for what in ("settled", "still settled a second later"):
        try:
            wait_until(settled, timeout=timeout, what=what)
        except AssertionError:
            inbox, parked, pending, due = last[0]
            kinds = system.rows("SELECT subject_type, count(*) FROM parked_events p WHERE"
                                " p.subject_type <> 'callback' OR EXISTS (SELECT 1 FROM"
                                " callbacks b WHERE b.callback_id = p.subject_id) GROUP BY 1")
            raise AssertionError(
                f"{system.label}: not {what} after {timeout:.0f} s: inbox {inbox} of"
                f" {distinct} identities, {parked} events still parked {kinds},"
                f" {pending} outbox rows"
                f" unpublished, {due} due clocks unmarked") from None
        time.sleep(1.0)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Output:
    """An output record: CloudEvents id, Kafka key, raw value, parsed event."""

    event_id: str
    key: bytes | None
    value: bytes
    event: dict[str, Any]


def read_outputs(system: System, timeout: float = 60.0) -> dict[str, list[Output]]:
    """Every record of the system's output topics (see :func:`read_output_topics`)."""
    return read_output_topics(system.bootstrap, system.names, system.dsn, timeout,
                              system.label)


def read_output_topics(bootstrap: str, names: TopicNames, dsn: str, timeout: float = 60.0,
                       label: str = "") -> dict[str, list[Output]]:
    """Every record of the output topics, read until each outbox id has been seen.

    (The embedded broker's ListOffsets LATEST is wrong, so "caught up" is decided by the
    outbox: all its ids seen, then no new record for a second.)
    """
    from kafka import KafkaConsumer, TopicPartition

    want: dict[str, set[str]] = defaultdict(set)
    with psycopg.connect(dsn) as conn:
        for topic, event_id in conn.execute("SELECT topic, event_id FROM outbox").fetchall():
            want[names.name(topic)].add(event_id)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    out: dict[str, list[Output]] = {base: [] for base in OUTPUT_TOPICS}
    bases = {names.name(b): b for b in OUTPUT_TOPICS}
    seen: dict[str, set[str]] = defaultdict(set)
    try:
        tps = [TopicPartition(name, p) for name in bases
               for p in sorted(consumer.partitions_for_topic(name) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while True:
            got = consumer.poll(timeout_ms=300)
            for tp, recs in got.items():
                for r in recs:
                    event = json.loads(r.value)
                    out[bases[tp.topic]].append(Output(event["id"], r.key, r.value, event))
                    seen[tp.topic].add(event["id"])
            if got:
                quiet_since = time.monotonic()
            complete = all(want[t] <= seen[t] for t in want)
            if complete and time.monotonic() - quiet_since > 1.0:
                return out
            if time.monotonic() > end:
                missing = {t: len(want[t] - seen[t]) for t in want if want[t] - seen[t]}
                raise AssertionError(f"{label}: outbox ids missing on topics: {missing}")
    finally:
        consumer.close()


# --------------------------------------------------------------------------- snapshot

# Per view: key columns, compared columns. Wall-clock columns (recorded_at, decided_at,
# published_at, processed_at, opened_at of alerts, ...) are never compared.
_VIEWS: dict[str, tuple[str, str]] = {
    "rm_cases": ("case_id", "insurer, report_no, policy_no_masked, line, channel, province, city,"
                 " district, cause, status, stage, docs_stage, cat_code, cat_mode, injuries,"
                 " disputed, estimated_amount, approved_amount, reported_at, occurred_at,"
                 " closed_at, updated_at, owner, decision, decided_at, withdrawn_at"),
    "rm_reviews": ("review_id", "stage, case_id, complaint_id, dispatch_id, reviewer_id,"
                   " decision, amount, disputed, missing_documents, completed_at, outcome"),
    "rm_complaints": ("complaint_id", "case_id, insurer, channel, category, against_adjuster_id,"
                      " owner, status, merged_into, city, filed_at, due_at, closed_at"),
    "rm_sla_clocks": ("subject_type, subject_id, clock", "insurer, line, province, started_at,"
                      " due_at, warn_at, warned_at, breached_at, stopped_at, paused"),
    "rm_payouts": ("payout_id", "case_id, review_id, insurer, amount, approval_path,"
                   " approved_at, pay_by, cat_code, status, paid_at, failed_at, failure_code"),
    "rm_settlements": ("settlement_id", "case_id, payout_id, status, amount, settled_at,"
                       " failure_code, bank_ref, outcome"),
}


def _case_of(view: str, key: tuple[Any, ...], row: tuple[Any, ...]) -> str | None:
    if view == "rm_cases":
        return str(key[0])
    if view in ("rm_reviews", "rm_payouts", "rm_settlements"):
        return row[1] if view == "rm_reviews" else row[0]
    if view == "rm_sla_clocks":
        return str(key[1]) if key[0] == "case" else None
    return None


def _timeline_detail(event_type: str, detail: str | None) -> str | None:
    """The detail of a timeline row, where it does not depend on the interleaving.

    dispatch.requested rows name the routing decision (compared on rm_dispatches); a survey
    ``unable`` changes nothing and its row names the case status of that moment, which is
    ``reported`` or ``dispatched`` depending on whether the dispatch topic was ahead.
    """
    if event_type == "dispatch.requested":
        return None
    if event_type == "review.completed" and detail in ("case reported", "case dispatched"):
        return "case reported|dispatched"
    return detail


def snapshot(system: System, scenario: Scenario) -> dict[str, Any]:
    """The comparable final state of ``system`` (see docs/reliability.md)."""
    snap: dict[str, Any] = {}
    excluded = scenario.excluded_cases
    for view, (key, cols) in _VIEWS.items():
        nkey = key.count(",") + 1
        rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for r in system.rows(f"SELECT {key}, {cols} FROM {view}"):
            k, v = tuple(r[:nkey]), tuple(r[nkey:])
            if _case_of(view, k, v) in excluded:
                continue
            if view == "rm_cases" and k[0] in scenario.burst_cases:
                v = v[:13] + ("<timing-dependent>",) + v[14:]  # cat_mode
            rows[k] = v
        snap[view] = rows
    # Timeline: one row per applied/refused/duplicate event; "parked" rows exist only
    # when a review was processed before its case, which depends on the interleaving.
    # The detail of dispatch.requested rows names the routing decision (compared below).
    snap["rm_case_timeline"] = Counter(
        (c, p, t, et, s, i, o, _timeline_detail(t, d))
        for c, p, t, et, s, i, o, d in system.rows(
            "SELECT case_id, complaint_id, event_type, event_time, source, event_id, outcome,"
            " detail FROM rm_case_timeline WHERE outcome <> 'parked'"
            " AND event_type <> 'callback.completed'")  # compared per callback below
        if c not in excluded)
    snap.update(_callback_snapshot(system, excluded))
    snap["rm_data_quality"] = Counter(
        r for r in system.rows(
            "SELECT kind, subject_type, subject_id, event_type, source, event_id, detail,"
            " data_time FROM rm_data_quality WHERE kind <> 'subject_unknown'"
            " AND subject_type <> 'callback'")  # compared with the callbacks
        if not (r[1] == "case" and r[2] in excluded))
    # callbacks_reached/dissatisfied include routing-dependent dispatch callbacks: compared
    # per callback instead (rm_callbacks below)
    snap["rm_daily_stats"] = {
        r[:4]: r[4:] for r in system.rows(
            "SELECT day, insurer, line, province, reported, dispatched, surveyed, approved,"
            " rejected, complaints, sla_breaches, closed, withdrawn FROM rm_daily_stats")
        if any(r[4:])  # a group with callback results only
        if r[0] < scenario.compare_days_before}
    snap["rm_alerts"] = {
        r[0]: r[1:] for r in system.rows(
            "SELECT alert_id, kind, severity, scope::text, resolved_at IS NULL FROM rm_alerts"
            " WHERE kind = 'surge'")}
    snap["dispatches"] = {
        r[0]: r[1:] for r in system.rows(
            "SELECT dispatch_id, case_id, task, skill, province, city, district, urgency,"
            " requested_at, survey_due_by, closed_at, status, adjuster_id,"
            " route_reason = %s FROM rm_dispatches", (SURVEY_FIRST,)) if r[1] not in excluded}
    # v2 notices: which (kind, subject, trigger) were decided; dispatch_assigned depends on
    # routing order in the contended province, delay on the sweeper (compared by id only)
    snap["rm_notices"] = {
        r[0]: r[1:] for r in system.rows(
            "SELECT notice_id, kind, case_id, complaint_id, trigger_id FROM rm_notices"
            " WHERE kind NOT IN ('dispatch_assigned', 'delay')") if r[2] not in excluded}
    snap["adjusters"] = {
        r[0]: r[1:] for r in system.rows(
            "SELECT adjuster_id, province, cities, skills, capacity, active, in_roster,"
            " CASE WHEN province = ANY(%s) THEN NULL ELSE load END FROM rm_adjuster_load",
            (sorted(CONTENDED_PROVINCES),))}
    return snap


def _callback_snapshot(system: System, excluded: set[str]) -> dict[str, Any]:
    """Callbacks (SPEC §4.10) and escalations (§4.11), compared in :func:`compare` except
    for the dispatch callbacks whose existence depends on routing (see there).

    The adjuster asked about is routing-dependent in the contended provinces, and for a
    closing callback anywhere (a dispatch surveyed before its request never had one): left
    out there.
    An escalation's ``raised_at``/``due_at`` are left out: a mark the sweeper set ahead of
    the data, taken back by a pause and set again later keeps its first escalation (once
    ever, SPEC §4.11), so only which escalations stand, to whom and their resolution
    are compared.
    """
    contended = sorted(CONTENDED_PROVINCES)
    return {
        "rm_callbacks": {r[0]: r[1:] for r in system.rows(
            "SELECT b.callback_id, b.kind, b.case_id, b.complaint_id, b.dispatch_id,"
            " CASE WHEN c.province = ANY(%s) OR b.kind = 'closing' THEN NULL"
            " ELSE b.adjuster_id END, b.reason,"
            " b.status, b.attempts, b.satisfaction, b.praise, b.report, b.requested_at,"
            " b.due_by, b.completed_at FROM rm_callbacks b"
            " LEFT JOIN rm_cases c ON c.case_id = b.case_id", (contended,))
            if r[2] not in excluded},
        "callback_attempts": {r[:2]: r[2:] for r in system.rows(
            "SELECT callback_id, attempt, outcome, satisfaction, praise, report, completed_at,"
            " applied, source, event_id FROM callback_attempts")},
        # callbacks of the cases left out of the comparison (surge-timing dependent)
        "excluded_callbacks": {r[0] for r in system.rows(
            "SELECT callback_id FROM callbacks WHERE case_id = ANY(%s)", (sorted(excluded),))},
        "rm_escalations": {r[0]: r[1:] for r in system.rows(
            "SELECT escalation_id, subject_type, subject_id, case_id, cause, level, to_id,"
            " resolved_at FROM rm_escalations") if r[3] not in excluded},
    }


def _routing_dependent_callbacks(ref: dict[str, Any], got: dict[str, Any]) -> set[str]:
    """callback_ids of dispatch callbacks that exist only if routing assigned the dispatch
    before its survey (contended provinces, surveyed first or without an adjuster in a run),
    and the callbacks of the cases left out of the comparison."""
    from schemas import callback_id

    out = set()
    for snap in (ref, got):
        for d, row in snap["dispatches"].items():
            if row[3] in CONTENDED_PROVINCES or row[12] or row[11] is None:
                out.add(callback_id("dispatch", d))  # no adjuster at survey in some run
    out |= ref.get("excluded_callbacks", set()) | got.get("excluded_callbacks", set())
    return out


def _without(view: dict[Any, Any], ids: set[str]) -> dict[Any, Any]:
    """``view`` without the rows whose key (or subject id) is one of ``ids``."""
    out = {}
    for k, v in view.items():
        key = k[0] if isinstance(k, tuple) else k
        if key in ids or (isinstance(v, tuple) and len(v) > 1 and v[1] in ids):
            continue
        out[k] = v
    return out


def _without_clocks(view: dict[Any, Any], ids: set[str]) -> dict[Any, Any]:
    """``rm_sla_clocks`` rows without the callback clocks of ``ids``."""
    return {k: v for k, v in view.items() if not (k[0] == "callback" and k[1] in ids)}


def _diff_map(name: str, ref: dict[Any, Any], got: dict[Any, Any], limit: int = 5) -> list[str]:
    out = []
    for k in sorted(set(ref) | set(got), key=repr):
        a, b = ref.get(k, "<absent>"), got.get(k, "<absent>")
        if a != b:
            out.append(f"{name} {k!r}: reference {a!r} != {b!r}")
    more = [f"{name}: {len(out) - limit} more differences"] if len(out) > limit else []
    return out[:limit] + more


def _diff_counter(name: str, ref: Counter[Any], got: Counter[Any], limit: int = 5) -> list[str]:
    missing, extra = ref - got, got - ref
    out = [f"{name}: missing {r!r} ×{n}" for r, n in list(missing.items())[:limit]]
    out += [f"{name}: unexpected {r!r} ×{n}" for r, n in list(extra.items())[:limit]]
    if len(missing) + len(extra) > 2 * limit:
        out.append(f"{name}: {len(missing)} missing, {len(extra)} unexpected rows in all")
    return out


def _dispatch_diffs(ref: dict[str, tuple[Any, ...]], got: dict[str, tuple[Any, ...]]) -> list[str]:
    """Facts of every dispatch equal; the routing decision where it is deterministic."""
    out = []
    for d in sorted(set(ref) | set(got)):
        a, b = ref.get(d), got.get(d)
        if a is None or b is None:
            where = "chaos" if a is None else "reference"
            out.append(f"rm_dispatches {d}: present only in the {where} run")
            continue
        # facts: case … closed_at, and whether it is surveyed (closed by its survey)
        if a[:10] + (a[10] == "surveyed",) != b[:10] + (b[10] == "surveyed",):
            out.append(f"rm_dispatches {d}: reference {a[:11]} != {b[:11]}")
            continue
        contended = a[3] in CONTENDED_PROVINCES
        if not contended and not a[12] and not b[12] and a[10:12] != b[10:12]:
            out.append(f"rm_dispatches {d}: routed {a[10:12]} in reference, {b[10:12]}")
    return out[:10]


def compare(ref: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Differences between a reference snapshot and another run's (empty = equal)."""
    out: list[str] = []
    skip = _routing_dependent_callbacks(ref, got)
    for view in (*_VIEWS, "rm_daily_stats", "rm_alerts", "adjusters", "rm_notices"):
        if view == "rm_sla_clocks":  # the clocks of routing-dependent callbacks aside
            out += _diff_map(view, _without_clocks(ref[view], skip),
                             _without_clocks(got[view], skip))
            continue
        out += _diff_map(view, ref[view], got[view])
    for view in ("rm_case_timeline", "rm_data_quality"):
        out += _diff_counter(view, ref[view], got[view])
    out += _dispatch_diffs(ref["dispatches"], got["dispatches"])
    for view in ("rm_callbacks", "callback_attempts", "rm_escalations"):
        out += _diff_map(view, _without(ref[view], skip), _without(got[view], skip))
    return out


# --------------------------------------------------------------------------- decisions


def payouts_on_topic(outputs: dict[str, list[Output]], excluded: set[str]) -> dict[str, Any]:
    """payout_id → (CloudEvents id, data) of the payout.approved records (deduplicated)."""
    out: dict[str, Any] = {}
    for rec in outputs[PAYOUT_APPROVED]:
        data = rec.event["data"]
        if data["case_id"] in excluded:
            continue
        out[data["payout_id"]] = (rec.event_id, data)
    return out


def decisions_on_topic(outputs: dict[str, list[Output]]) -> dict[str, set[tuple[Any, ...]]]:
    """dispatch_id → {(CloudEvents id, status, adjuster_id, survey_due_by)}."""
    out: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for rec in outputs[DISPATCH_ASSIGNED]:
        d = rec.event["data"]
        out[d["dispatch_id"]].add((rec.event_id, d["status"], d["adjuster_id"], d["survey_due_by"]))
    return dict(out)


def surge_alerts_on_topic(outputs: dict[str, list[Output]]) -> dict[str, tuple[str, str]]:
    """alert_id → (kind, scope) of every surge alert.opened on the topic."""
    return {
        rec.event["data"]["alert_id"]: ("surge", json.dumps(rec.event["data"]["scope"],
                                                            sort_keys=True, ensure_ascii=False))
        for rec in outputs["alerts"]
        if rec.event["type"] == "alert.opened" and rec.event["data"]["kind"] == "surge"}


def compare_outputs(ref: dict[str, list[Output]], got: dict[str, list[Output]],
                    ref_snap: dict[str, Any], got_snap: dict[str, Any],
                    scenario: Scenario) -> list[str]:
    """Decisions on the output topics equal those of the reference run."""
    out = _diff_map("payout.approved", payouts_on_topic(ref, scenario.excluded_cases),
                    payouts_on_topic(got, scenario.excluded_cases))
    out += _diff_map("surge alert.opened", surge_alerts_on_topic(ref), surge_alerts_on_topic(got))
    rd, gd = decisions_on_topic(ref), decisions_on_topic(got)
    for d in sorted(set(rd) | set(gd)):
        facts = ref_snap["dispatches"].get(d) or got_snap["dispatches"].get(d)
        if facts is None or facts[3] in CONTENDED_PROVINCES:
            continue  # contended: the invariants decide
        a, b = rd.get(d), gd.get(d)
        if a is not None and b is not None:
            if a != b:
                out.append(f"dispatch.assigned {d}: reference {sorted(a)} != {sorted(b)}")
        elif a is None and not ref_snap["dispatches"].get(d, facts)[12]:
            out.append(f"dispatch.assigned {d}: decided only in the chaos run")
        elif b is None and not got_snap["dispatches"].get(d, facts)[12]:
            out.append(f"dispatch.assigned {d}: decided only in the reference run")
    return out[:30]


def invariants(system: System, outputs: dict[str, list[Output]], scenario: Scenario) -> list[str]:
    """What must hold in any run, killed or not: no duplicate effect, no lost output,
    one decision per dispatch and state, load within capacity."""
    out: list[str] = []
    (inbox,), = system.rows("SELECT count(*) FROM inbox")
    if inbox != scenario.distinct:
        out.append(f"inbox holds {inbox} identities, {scenario.distinct} were published")
    (n, distinct), = system.rows("SELECT count(*), count(DISTINCT event_id) FROM outbox")
    if n != distinct:
        out.append(f"outbox: {n} rows for {distinct} event ids")
    # every published event has exactly one effect row in the timeline (parked rows aside)
    per_event = Counter(system.rows(
        "SELECT source, event_id FROM rm_case_timeline WHERE outcome <> 'parked'"))
    twice = [k for k, c in per_event.items() if c > 1]
    # callback attempts for callbacks never requested stay parked for good (no effect row)
    (orphans,), = system.rows(
        "SELECT count(*) FROM parked_events p WHERE p.subject_type = 'callback' AND NOT EXISTS"
        " (SELECT 1 FROM callbacks b WHERE b.callback_id = p.subject_id)")
    if twice or len(per_event) + orphans != scenario.distinct:
        out.append(f"timeline: {len(per_event)} events with an effect row of {scenario.distinct},"
                   f" {len(twice)} with several (e.g. {twice[:3]})")
    (rows, cases, ids), = system.rows(
        "SELECT count(*), count(DISTINCT case_id), count(DISTINCT payout_id) FROM rm_payouts")
    if not rows == cases == ids:
        out.append(f"rm_payouts: {rows} rows, {cases} cases, {ids} payout ids")
    # outputs: same CloudEvents id → same bytes; every record comes from the outbox
    known = {r[0] for r in system.rows("SELECT event_id FROM outbox")}
    for topic, recs in outputs.items():
        by_id: dict[str, bytes] = {}
        for rec in recs:
            if rec.event_id not in known:
                out.append(f"{topic}: record {rec.event_id} not in the outbox")
            if by_id.setdefault(rec.event_id, rec.value) != rec.value:
                out.append(f"{topic}: id {rec.event_id} re-published with different bytes")
    payout_ids = {r[0] for r in system.rows("SELECT payout_id FROM rm_payouts")}
    on_topic = {rec.event["data"]["payout_id"] for rec in outputs[PAYOUT_APPROVED]}
    if payout_ids != on_topic:
        out.append(f"payout.approved topic has {len(on_topic)} payout ids, rm_payouts"
                   f" {len(payout_ids)} (difference {sorted(payout_ids ^ on_topic)[:3]})")
    out += _decision_invariants(system, decisions_on_topic(outputs), scenario.withdrawn)
    # SPEC §4.9 by rule: a withdrawn case (withdrawn before any decision) ends withdrawn,
    # without payout, with every case clock stopped
    for case_id, status in system.rows(
            "SELECT case_id, status FROM rm_cases WHERE case_id = ANY(%s)"
            " AND (status <> 'withdrawn' OR closed_at IS NULL OR EXISTS (SELECT 1 FROM"
            " rm_sla_clocks k WHERE k.subject_type = 'case' AND k.subject_id = case_id"
            " AND k.stopped_at IS NULL))", (sorted(scenario.withdrawn),)):
        out.append(f"withdrawn case {case_id}: {status}, or a clock still running")
    for adj, load, cap in system.rows(
            "SELECT adjuster_id, load, capacity FROM rm_adjuster_load WHERE load > capacity"):
        out.append(f"adjuster {adj}: load {load} > capacity {cap}")
    return out[:30]


def _decision_invariants(system: System, decided: dict[str, set[tuple[Any, ...]]],
                         withdrawn: set[str]) -> list[str]:
    out = []
    rows = system.rows(
        "SELECT dispatch_id, status, adjuster_id, route_reason = %s, requested_at IS NOT NULL,"
        " province, case_id FROM rm_dispatches", (SURVEY_FIRST,))
    for d, status, adjuster, survey_first, requested, province, case_id in rows:
        events = decided.pop(d, set())
        if case_id in withdrawn:  # routed or born cancelled, by order (SPEC §4.9)
            if len([e for e in events if e[1] == "assigned"]) > 1:
                out.append(f"dispatch {d}: assigned twice")
            continue
        queued = [e for e in events if e[1] == "queued"]
        assigned = [e for e in events if e[1] == "assigned"]
        problem = None
        if len(queued) > 1 or len(assigned) > 1:
            problem = f"{len(queued)} queued and {len(assigned)} assigned decisions"
        elif survey_first and events:
            problem = "surveyed before it was requested, yet decided"
        elif requested and not survey_first and not events:
            problem = "requested but never decided"
        elif assigned and assigned[0][2] != adjuster:
            problem = f"assigned to {assigned[0][2]} on the topic, {adjuster} in rm_dispatches"
        elif status == "assigned" and not assigned:
            problem = "assigned in rm_dispatches without an assigned decision"
        elif status == "queued" and (assigned or not queued):
            problem = "queued in rm_dispatches but the decisions say otherwise"
        elif province not in CONTENDED_PROVINCES and requested and not survey_first and (
                queued or adjuster is None):
            problem = "queued although capacity is ample"
        if problem:
            out.append(f"dispatch {d}: {problem}")
    out += [f"dispatch {d}: decided on the topic but unknown" for d in sorted(decided)]
    return out
