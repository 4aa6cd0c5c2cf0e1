"""``callback-completed`` (回访 results, SPEC §4.10): attempts, result, clock, follow-up.

Load → decide → write: the callbacks of the batch and their attempts are loaded under
their ``callback:<id>`` locks, each attempt is decided with
:func:`workers.rules.callbacks.callback_result` over the set of attempts (so any arrival
order gives the same result), and the batch is written at the end. An attempt for a
callback that has not been requested (sent) yet is parked and applied when it is.
The business key is (``callback_id``, ``attempt``): a second event for it is a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from psycopg import AsyncConnection
from psycopg.rows import class_row

from schemas import CallbackCompleted
from workers.context import HandlerContext
from workers.escalations import count_escalations, record_escalations
from workers.handlers.common import claim_batch, lock_subjects, timeline_row
from workers.records import Incoming
from workers.rules.callbacks import AFTER_CANCEL, AFTER_RESULT, Attempt, callback_result
from workers.rules.escalations import DISSATISFIED, REPORT, SUPERVISOR, Escalation
from workers.rules.sla import Clock, ClockOp, ClockOpKind
from workers.store.effects import Effects, TimelineRow, data_hash, flush, same_data
from workers.store.rows import Row, col, update_rows
from workers.store.tables import ParkedKey, ParkedRow


@dataclass(frozen=True)
class AttemptFacts:
    """The non-personal facts of a callback.completed (the comment lives in the vault)."""

    callback_id: str
    attempt: int
    outcome: str
    satisfaction: int | None
    praise: bool
    report: bool
    agent_id: str
    completed_at: datetime
    source: str
    event_id: str
    data_hash: str

    @classmethod
    def of(cls, item: Incoming) -> AttemptFacts:
        """Facts of an incoming event."""
        d: CallbackCompleted = item.data(CallbackCompleted)
        return cls(str(d.callback_id), d.attempt, d.outcome.value, d.satisfaction, d.praise,
                   d.report, d.agent_id, d.completed_at, item.source, item.event_id,
                   data_hash(d))

    def payload(self) -> str:
        """JSON for ``parked_events.payload``."""
        # shallow (asdict deep-copied each value); same JSON, key order included
        out = {name: getattr(self, name) for name in _ATTEMPT_FIELDS}
        return json.dumps(out | {"completed_at": self.completed_at.isoformat()})

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> AttemptFacts:
        """Inverse of :meth:`payload`."""
        return cls(**(raw | {"completed_at": datetime.fromisoformat(raw["completed_at"])}))

    @property
    def rule(self) -> Attempt:
        """The attempt as the rules see it."""
        return Attempt(self.attempt, self.outcome, self.completed_at, self.satisfaction,
                       self.praise, self.report)


_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptFacts))


@dataclass
class CallbackRow:
    """A sent callback request with its applied attempts."""

    callback_id: str
    kind: str
    case_id: str | None
    complaint_id: str | None
    insurer: str | None
    status: str
    stopped_at: datetime | None
    cancelled_at: datetime | None = None
    attempts: dict[int, AttemptFacts] = field(default_factory=dict)
    new_attempts: list[tuple[AttemptFacts, str]] = field(default_factory=list)
    dirty: bool = False


async def apply_callback_completed_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of callback.completed events; one outcome per event."""
    outcomes, todo = await claim_batch(conn, "callback-completed", items)
    if not todo:
        return outcomes
    facts = [(n, item, AttemptFacts.of(item)) for n, item in todo]
    await lock_subjects(conn, [f"callback:{f.callback_id}" for _, _, f in facts])
    rows = await load_callbacks(conn, {f.callback_id for _, _, f in facts})
    fx = Effects()
    for n, item, f in facts:
        fx.vault("callback_attempt", f"{f.callback_id}:{f.attempt}", f.source, f.event_id,
                 {"comment": item.data(CallbackCompleted).comment})
        row = rows.get(f.callback_id)
        if row is None:
            fx.parked.append(ParkedRow(f.source, f.event_id, "callback", f.callback_id, f.completed_at,
                              f.payload()))
            fx.timeline.append(timeline_row(item, "parked", "waiting for its callback request"))
            outcomes[n] = "parked"
            continue
        outcomes[n] = apply_attempt(row, f, fx, item.data(CallbackCompleted))
        fx.timeline.append(timeline_row(item, outcomes[n], f"attempt {f.attempt} {f.outcome}"))
    await save_callbacks(conn, rows, fx, ctx)
    await flush(conn, fx)
    return outcomes


def apply_attempt(row: CallbackRow, f: AttemptFacts, fx: Effects,
                  data: CallbackCompleted | None = None) -> str:
    """Record one attempt and recompute the callback's result; returns the outcome.
    ``data``: the event's data when live (to compare with a legacy-format digest)."""
    known = row.attempts.get(f.attempt)
    if known is not None:
        if not same_data(known.data_hash, f.data_hash, data):
            fx.dq("conflicting_duplicate", "callback", row.callback_id,
                  f"attempt {f.attempt} already recorded with different data",
                  "callback.completed", f.source, f.event_id, f.completed_at)
        return "duplicate"
    row.attempts[f.attempt] = f
    row.new_attempts.append((f, "applied"))
    row.dirty = True
    return "applied"


async def save_callbacks(conn: AsyncConnection[Any], rows: dict[str, CallbackRow], fx: Effects,
                         ctx: HandlerContext) -> None:
    """Write attempts, results, clock stops and follow-up escalations of changed callbacks."""
    attempts = [(r.callback_id, f.attempt, f.outcome, f.satisfaction, f.praise, f.report,
                 f.agent_id, f.completed_at, applied, f.source, f.event_id, f.data_hash)
                for r in rows.values() for f, applied in r.new_attempts]
    if attempts:
        await conn.execute(
            "INSERT INTO callback_attempts (callback_id, attempt, outcome, satisfaction,"
            " praise, report, agent_id, completed_at, applied, source, event_id, data_hash)"
            " SELECT * FROM unnest(%b::text[], %b::int[], %b::text[], %b::int[], %b::bool[],"
            " %b::bool[], %b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[],"
            " %b::text[]) ON CONFLICT DO NOTHING", [list(c) for c in zip(*attempts, strict=True)])
    escalations: list[Escalation] = []
    settled: list[CallbackSettled] = []
    for r in rows.values():
        if r.dirty:
            escalations += _settle(r, fx, ctx, settled)
        for f, applied in r.new_attempts:
            if applied == "applied" and ctx.metrics is not None:
                ctx.metrics.callbacks_total.labels(kind=r.kind, outcome=f.outcome).inc()
    await update_rows(conn, settled, ["callback_id"])
    raised = await record_escalations(conn, fx, escalations, ctx.clock())
    if ctx.metrics is not None:
        count_escalations(ctx.metrics, raised)


@dataclass(frozen=True)
class CallbackSettled(Row):
    """A callback's recomputed result, written for the whole batch with one statement
    (it was one UPDATE per callback: half the statements of a 20k-event replay)."""

    __table__: ClassVar[str] = "callbacks"
    callback_id: str
    status: str
    result_attempt: int | None = col("int4")
    satisfaction: int | None = col("int4")
    praise: bool = col("bool")
    report: bool = col("bool")
    completed_at: datetime | None = col("timestamptz")


def _settle(r: CallbackRow, fx: Effects, ctx: HandlerContext,
            settled: list[CallbackSettled]) -> list[Escalation]:
    result = callback_result((a.rule for a in r.attempts.values()), r.cancelled_at)
    res = result.result
    settled.append(CallbackSettled(
        r.callback_id, result.status, res.attempt if res else None,
        res.satisfaction if res else None, bool(res and res.praise), bool(res and res.report),
        result.stopped_at))
    for n in result.after_result:
        a = r.attempts[n]
        fx.dq(AFTER_RESULT, "callback", r.callback_id,
              f"attempt {n} after the result (attempt {res.attempt if res else '?'})",
              "callback.completed", a.source, a.event_id, a.completed_at)
    for a in r.attempts.values():
        if r.cancelled_at is not None and a.completed_at >= r.cancelled_at:
            fx.dq(AFTER_CANCEL, "callback", r.callback_id,
                  f"attempt {a.attempt} after the callback was cancelled (case withdrawn)",
                  "callback.completed", a.source, a.event_id, a.completed_at)
    if result.stopped_at is not None and result.stopped_at != r.stopped_at:
        # the earliest stop wins: an earlier attempt that arrived late moves the stop back
        fx.clock_ops.append(ClockOp(ClockOpKind.STOP_EARLIEST, "callback", r.callback_id,
                                    Clock.CALLBACK.value, result.stopped_at))
    if res is None or r.insurer is None:
        return []
    sup = ctx.policy.supervisor(r.insurer)
    out = []
    if result.dissatisfied:
        out.append(_follow_up(r, DISSATISFIED, sup, res.completed_at,
                              f"dissatisfied (satisfaction {res.satisfaction}) on the {r.kind}"
                              f" callback"))
    if res.report:
        out.append(_follow_up(r, REPORT, sup, res.completed_at,
                              f"misconduct reported (举报) on the {r.kind} callback"))
    return out


def _follow_up(r: CallbackRow, cause: str, to: str, at: datetime, what: str) -> Escalation:
    subject = f"case {r.case_id}" if r.case_id else f"complaint {r.complaint_id}"
    return Escalation("callback", r.callback_id, r.case_id, r.complaint_id, cause, SUPERVISOR,
                      to, at, None, f"{what} of {subject}", r.insurer)


async def load_callbacks(conn: AsyncConnection[Any], ids: set[str]) -> dict[str, CallbackRow]:
    """The sent (enqueued) or cancelled callbacks among ``ids`` with their applied attempts
    (an attempt for a callback still waiting for its case waits parked)."""
    if not ids:
        return {}
    cur = conn.cursor(row_factory=class_row(CallbackRow))
    await cur.execute(
        "SELECT b.callback_id, b.kind, b.case_id, b.complaint_id, b.insurer, b.status,"
        " c.stopped_at, b.cancelled_at FROM callbacks b LEFT JOIN sla_clocks c"
        " ON c.subject_type = 'callback' AND c.subject_id = b.callback_id AND c.clock = 'callback'"
        " WHERE b.callback_id = ANY(%b) AND (b.enqueued OR b.cancelled_at IS NOT NULL)",
        (list(ids),))
    rows = {r.callback_id: r for r in await cur.fetchall()}
    if rows:
        acur = conn.cursor(row_factory=class_row(AttemptFacts))
        await acur.execute(
            "SELECT callback_id, attempt, outcome, satisfaction, praise, report, agent_id,"
            " completed_at, source, event_id, data_hash FROM callback_attempts"
            " WHERE callback_id = ANY(%b) AND applied = 'applied'", (list(rows),))
        for a in await acur.fetchall():
            rows[a.callback_id].attempts[a.attempt] = a
    return rows


async def apply_parked_attempts(conn: AsyncConnection[Any], fx: Effects, ctx: HandlerContext,
                                ids: Sequence[str], touch: set[str] | None = None) -> None:
    """Apply attempts parked for these (just sent or cancelled) callbacks, in data-time
    order, and settle them and the ``touch`` ones (whose cancellation changes the status)."""
    cur = await conn.execute(
        "SELECT payload FROM parked_events WHERE subject_type = 'callback'"
        " AND subject_id = ANY(%b) ORDER BY data_time, event_id", (list(ids),))
    parked = [AttemptFacts.from_payload(r[0]) for r in await cur.fetchall()]
    touch = touch or set()
    if not parked and not touch:
        return
    rows = await load_callbacks(conn, {f.callback_id for f in parked} | touch)
    for f in parked:
        row = rows.get(f.callback_id)
        if row is not None:
            outcome = apply_attempt(row, f, fx)
            fx.unparked.append(ParkedKey(f.source, f.event_id))
            fx.timeline.append(TimelineRow(row.case_id, row.complaint_id, "callback.completed",
                                           f.completed_at, f.source, f.event_id, outcome,
                                           f"attempt {f.attempt} {f.outcome}"))
    for cid in touch:
        if cid in rows:
            rows[cid].dirty = True
    await save_callbacks(conn, rows, fx, ctx)


async def cancel_case_callbacks(conn: AsyncConnection[Any], case_ids: Sequence[str],
                                at: datetime, fx: Effects, ctx: HandlerContext) -> None:
    """Withdrawal (SPEC §4.9): the case callbacks of these cases are cancelled at ``at``
    (only attempts before it count, so every arrival order agrees); complaint callbacks go
    on. The caller holds the case locks and flushes ``fx``."""
    if not case_ids:
        return
    cur = await conn.execute(
        "UPDATE callbacks SET cancelled_at = %s WHERE case_id = ANY(%b) AND kind <> 'complaint'"
        " AND cancelled_at IS NULL RETURNING callback_id", (at, list(case_ids)))
    ids = sorted(r[0] for r in await cur.fetchall())
    if not ids:
        return
    await lock_subjects(conn, [f"callback:{cid}" for cid in ids])
    await apply_parked_attempts(conn, fx, ctx, ids, touch=set(ids))
