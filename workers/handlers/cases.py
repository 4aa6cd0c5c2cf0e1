"""``case-reported``: create cases, split PII, start clocks, apply parked reviews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas import CaseReported
from workers.context import HandlerContext
from workers.handlers.callback_requests import send_callbacks
from workers.handlers.callback_triggers import became_terminal, closing_requests
from workers.handlers.catastrophes import CATASTROPHE_LOCK, effective_for
from workers.handlers.common import (
    ROUTING_LOCK,
    claim_batch,
    lock_routing,
    lock_subjects,
    timeline_row,
)
from workers.handlers.review_apply import ReviewFacts, add_clock_ops, apply_case_review
from workers.handlers.settlements import settle_parked
from workers.handlers.withdrawals import (
    PARK_SUBJECT as WITHDRAWAL_PARK_SUBJECT,
)
from workers.handlers.withdrawals import (
    WithdrawalFacts,
    apply_withdrawal,
    open_dispatch_provinces,
    save_withdrawals,
)
from workers.records import Incoming
from workers.rules.case_lifecycle import CaseStatus, apply_case_reported, on_dispatch_requested
from workers.rules.catastrophe import latest_versions
from workers.rules.masking import mask_policy_no
from workers.store.catastrophes import load_versions
from workers.store.effects import CaseRow, Effects, data_hash, flush, same_data
from workers.store.surge import count_reports
from workers.store.tables import ParkedKey


async def apply_case_reported_batch(
    conn: AsyncConnection[Any], items: Sequence[Incoming], ctx: HandlerContext
) -> list[str]:
    """Apply a batch of case.reported events; one outcome per event."""
    outcomes, todo = await claim_batch(conn, "case-reported", items)
    # then the catastrophe lock, shared: a case and a declaration: one order (SPEC §4.5)
    await lock_subjects(conn, [f"case:{i.data(CaseReported).case_id}" for _, i in todo],
                        then_shared=CATASTROPHE_LOCK)
    ids = {i.data(CaseReported).case_id for _, i in todo}
    # dispatches are written under the same case locks (held from here): loading their
    # first requested_at now gives what a query after the insert gave, one statement less
    known, first_dispatch = await _known_hashes(conn, ids)
    fx = Effects()
    new: list[Incoming] = []
    for n, item in todo:
        data: CaseReported = item.data(CaseReported)
        digest = data_hash(data)
        if data.case_id in known:
            outcomes[n] = "duplicate"
            _duplicate(fx, item, not same_data(known[data.case_id], digest, data))
            continue
        known[data.case_id] = digest
        new.append(item)
    codes = await _effective_codes(conn, new)
    await _insert_cases(conn, new, known, codes)
    await _fill_complaint_cities(conn, new)
    await count_reports(conn, [(i.data(CaseReported).incident.province, i.data(CaseReported).incident.city,
                                i.data(CaseReported).insurer, i.data(CaseReported).reported_at) for i in new],
                        ctx, fx)
    for item in new:
        _start_case(fx, item, first_dispatch.get(item.data(CaseReported).case_id), ctx,
                    codes[item.data(CaseReported).case_id])
    if new:
        fx.release_notices({i.data(CaseReported).case_id for i in new}, ctx.clock())
    await _apply_parked(conn, set(fx.cases), ctx, fx)
    await flush(conn, fx)
    await send_callbacks(conn, ctx, await closing_requests(conn, became_terminal(fx), ctx),
                         case_ids={i.data(CaseReported).case_id for i in new})
    await settle_parked(conn, {p.payout_id for p in fx.payouts}, ctx)  # SPEC §4.8 parking
    return outcomes


async def _apply_parked(conn: AsyncConnection[Any], case_ids: set[str], ctx: HandlerContext,
                        fx: Effects) -> None:
    """Reviews and withdrawals that waited for these cases, in data-time then event-id
    order (so a review after a withdrawal is refused as if it had come later)."""
    reviews, withdrawals = await _take_parked(conn, case_ids)
    if withdrawals:  # cancelling dispatches frees load: routing in their provinces
        await lock_subjects(conn, [], shared=[ROUTING_LOCK])
        await lock_routing(conn, await open_dispatch_provinces(
            conn, {str(w.case_id) for w in withdrawals}))
    waiting: list[tuple[Any, str, ReviewFacts | WithdrawalFacts]] = (
        [(r.completed_at, r.event_id, r) for r in reviews]
        + [(w.withdrawn_at, w.event_id, w) for w in withdrawals])
    rows = []
    for _, _, facts in sorted(waiting, key=lambda t: (t[0], t[1])):
        case = fx.cases[str(facts.case_id)]
        if isinstance(facts, WithdrawalFacts):
            rows.append(facts.row(await apply_withdrawal(conn, facts, case, ctx, fx)))
        else:
            outcome = await apply_case_review(conn, facts, case, ctx, fx)
            fx.reviews[facts.review_id] = facts.row(outcome)
        fx.unparked.append(ParkedKey(facts.source, facts.event_id))
    await save_withdrawals(conn, rows)


async def _take_parked(conn: AsyncConnection[Any], case_ids: set[str],
                       ) -> tuple[list[ReviewFacts], list[WithdrawalFacts]]:
    """What :func:`take_parked` (``case``) and :func:`take_parked_withdrawals` return, in
    one statement (both ordered by data time then event id, as each of them orders)."""
    if not case_ids:
        return [], []
    cur = await conn.execute(
        "SELECT subject_type, payload FROM parked_events WHERE subject_type = ANY(%b)"
        " AND subject_id = ANY(%b) ORDER BY data_time, event_id",
        (["case", WITHDRAWAL_PARK_SUBJECT], list(case_ids)))
    rows = await cur.fetchall()
    return ([ReviewFacts.from_payload(p) for t, p in rows if t == "case"],
            [WithdrawalFacts.from_payload(p) for t, p in rows if t == WITHDRAWAL_PARK_SUBJECT])


def _duplicate(fx: Effects, item: Incoming, differs: bool) -> None:
    data = item.data(CaseReported)
    fx.timeline.append(timeline_row(item, "duplicate", "case_id already reported"))
    if differs:
        fx.dq("conflicting_duplicate", "case", data.case_id,
              "case.reported for a known case_id with different data", item.event.type,
              item.source, item.event_id, data.data_time)


async def _known_hashes(conn: AsyncConnection[Any], ids: set[str],
                        ) -> tuple[dict[str, str], dict[str, Any]]:
    """case_id → data_hash of the known cases, and case_id → the first requested_at of
    dispatches that arrived before their case (one statement)."""
    if not ids:
        return {}, {}
    cur = await conn.execute(
        "SELECT u.id, c.data_hash, (SELECT min(d.requested_at) FROM dispatches d"
        " WHERE d.case_id = u.id AND d.requested_at IS NOT NULL)"
        " FROM unnest(%b::text[]) AS u(id) LEFT JOIN cases c ON c.case_id = u.id", (list(ids),))
    known: dict[str, str] = {}
    first: dict[str, Any] = {}
    for case_id, digest, requested_at in await cur.fetchall():
        if digest is not None:
            known[case_id] = digest
        if requested_at is not None:
            first[case_id] = requested_at
    return known, first


async def _effective_codes(conn: AsyncConnection[Any], new: list[Incoming]) -> dict[str, str | None]:
    """case_id → effective cat_code: the insurer's, else a declared catastrophe's (§4.5)."""
    out: dict[str, str | None] = {i.data(CaseReported).case_id: i.data(CaseReported).cat_code for i in new}
    if all(out.values()):
        return out
    latest = list(latest_versions(await load_versions(conn)).values())
    for item in new:
        d: CaseReported = item.data(CaseReported)
        if d.cat_code is None and latest:
            inc = d.incident
            out[d.case_id] = effective_for(inc.province, inc.city, inc.occurred_at, latest)
    return out


async def _insert_cases(conn: AsyncConnection[Any], new: list[Incoming], digests: dict[str, str],
                        codes: dict[str, str | None]) -> None:
    if not new:
        return
    rows = []
    for item in new:
        d: CaseReported = item.data(CaseReported)
        inc = d.incident
        rows.append((
            d.case_id, d.insurer, d.report_no, mask_policy_no(d.policy_no), d.line.value,
            d.channel.value, inc.province, inc.city, inc.district, inc.cause, "reported",
            "survey", codes[d.case_id], d.cat_code, d.cat_code is not None, d.loss.injuries,
            d.loss.estimated_amount, d.reported_at, inc.occurred_at, d.reported_at,
            item.source, item.event_id, digests[d.case_id],  # data_hash(d), computed above
            case_owner(d),
        ))
    # one unnest statement (binary parameters) instead of a per-row executemany
    await conn.execute(
        "INSERT INTO cases (case_id, insurer, report_no, policy_no_masked, line, channel,"
        " province, city, district, cause, status, stage, cat_code, insurer_cat_code, cat_mode,"
        " injuries,"
        " estimated_amount, reported_at, occurred_at, updated_at, source, event_id,"
        " data_hash, owner) SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::text[], %b::text[], %b::bool[], %b::int[], %b::numeric[], %b::timestamptz[],"
        " %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[])",
        [list(c) for c in zip(*rows, strict=True)])


async def _fill_complaint_cities(conn: AsyncConnection[Any], new: list[Incoming]) -> None:
    """Complaints filed before their case get the case's city now (SPEC §4.6 counts
    group complaints per insurer and city "from the linked case"), so the result does not
    depend on which topic was consumed first. The case locks held here serialise this
    with the complaint handler, which locks the same ``case:<id>`` subjects."""
    if new:
        await conn.execute(
            "UPDATE complaints p SET city = u.city FROM unnest(%b::text[], %b::text[])"
            " AS u(case_id, city) WHERE p.case_id = u.case_id AND p.city IS NULL",
            ([i.data(CaseReported).case_id for i in new], [i.data(CaseReported).incident.city for i in new]))


def case_owner(d: CaseReported) -> str:
    """The case's owner (首问负责制, SPEC §4.11): ``received_by``, else ``desk:<insurer>``."""
    received_by: str | None = getattr(d, "received_by", None)
    return received_by or f"desk:{d.insurer}"


def _start_case(fx: Effects, item: Incoming, first_dispatch: Any, ctx: HandlerContext,
                cat_code: str | None) -> None:
    d: CaseReported = item.data(CaseReported)
    inc = d.incident
    t = apply_case_reported(d.loss.injuries, d.cat_code is not None)
    case = CaseRow(d.case_id, d.insurer, d.line.value, inc.province, inc.city, d.report_no,
                   cat_code, t.state, updated_at=d.reported_at)
    fx.cases[d.case_id] = case
    policy = ctx.policy.for_case(d.insurer, d.line.value)
    add_clock_ops(fx, case, t.clocks, d.reported_at, policy)
    if first_dispatch is not None:
        dispatched = on_dispatch_requested(case.state)
        case.state = dispatched.state
        case.dirty = case.state.status is not CaseStatus.REPORTED
        add_clock_ops(fx, case, dispatched.clocks, max(first_dispatch, d.reported_at), policy)
    fx.vault("case", d.case_id, item.source, item.event_id, {
        "policy_no": d.policy_no, "incident_address": inc.address,
        "incident_description": inc.description, "reporter_name": d.reporter.name,
        "reporter_phone": d.reporter.phone, "insured_name": d.insured.name,
        "insured_id_number": d.insured.id_number,
    })
    fx.timeline.append(timeline_row(item, "applied"))


__all__ = ["apply_case_reported_batch"]
