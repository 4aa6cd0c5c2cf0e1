"""Customer notices in Postgres and the outbox (SPEC §4.12, §8).

Handlers decide notices with :mod:`workers.rules.notices` and hand them to
:func:`request_notice`; :func:`write_notices` (called by ``flush``) records each
(kind, subject, trigger) once in ``notices`` and enqueues ``notice.requested`` on
``customer-notices`` when its case (or complaint) is known. A notice whose case is not
known yet waits in ``notices`` (``enqueued`` false) and goes out when the case arrives
(the case handler lists the new case ids in ``fx.notice_cases``); its times still come
from its trigger. The outbox row carries no recipient: ``to.name``/``to.phone`` (and a
complaint extension's ``reason``) are filled at publish time from the vault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from infra.outbox import OutboxItem
from infra.pii_fill import PiiRef, complainant_of, reporter_of, review_reason
from schemas import NoticeRequested, build_output
from topics import CUSTOMER_NOTICES
from workers.rules.notices import (
    COMPLAINT_EXTENDED,
    COMPLAINT_KINDS,
    Notice,
    delay,
    suppressed_by_withdrawal,
)

TOPIC = CUSTOMER_NOTICES
TYPE = "notice.requested"
#: stands in for a PII field until the relay fills it (never stored: nulled by enqueue)
PLACEHOLDER = "-"


def notice_pii(n: Notice) -> PiiRef:
    """Where the notice's personal fields come from (filled by the relay)."""
    to = complainant_of(str(n.complaint_id)) if n.kind in COMPLAINT_KINDS else reporter_of(
        str(n.case_id))
    if n.kind == COMPLAINT_EXTENDED:
        return (*to, review_reason(n.trigger))
    return to


def notice_event(n: Notice, insurer: str, due_by: datetime, now: datetime) -> bytes:
    """``notice.requested`` as built for the outbox; its PII fields hold placeholders that
    :func:`infra.outbox.enqueue` nulls (the relay fills them from the vault)."""
    params = dict(n.params)
    if n.kind == COMPLAINT_EXTENDED:
        params["reason"] = PLACEHOLDER
    data = NoticeRequested.model_validate({
        "notice_id": n.notice_id, "kind": n.kind, "case_id": n.case_id,
        "complaint_id": n.complaint_id, "insurer": insurer,
        "to": {"role": n.recipient, "name": PLACEHOLDER, "phone": PLACEHOLDER},
        "params": params, "due_by": due_by, "created_at": n.created_at,
    })
    return build_output(TYPE, data, n.key, n.notice_id, now)


def _row(n: Notice) -> tuple[Any, ...]:
    return (n.notice_id, n.kind, n.case_id, n.complaint_id, n.trigger, n.recipient,
            json.dumps(n.params, ensure_ascii=False), n.created_at, n.due_by)


async def _insert_notices(conn: AsyncConnection[Any], notices: Sequence[Notice]) -> list[str]:
    """Insert ``notices`` (a known notice_id changes nothing); returns the new ids."""
    if not notices:
        return []
    cur = await conn.execute(
        "INSERT INTO notices (notice_id, kind, case_id, complaint_id, trigger_id,"
        " recipient, params, created_at, due_by) SELECT i, k, c, p, t, r, pa::jsonb, ca, d"
        " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[])"
        " AS u(i, k, c, p, t, r, pa, ca, d) ON CONFLICT (notice_id) DO NOTHING"
        " RETURNING notice_id",
        [list(col) for col in zip(*[_row(n) for n in notices], strict=True)])
    return [r[0] for r in await cur.fetchall()]


async def write_notices(conn: AsyncConnection[Any], notices: Sequence[Notice], case_ids: Iterable[str],
                        now: datetime) -> list[OutboxItem]:
    """Record new notices; return the outbox items of those ready to go out.

    Ready: new notices and waiting ones of ``case_ids`` whose case (complaint notices:
    complaint) is known; a case notice triggered at or after its case's withdrawal is
    dropped (SPEC §4.12).
    """
    new_ids = await _insert_notices(conn, notices)
    cases = sorted(set(case_ids))
    if not new_ids and not cases:
        return []
    cur = await conn.execute(
        "SELECT n.notice_id, n.kind, n.case_id, n.complaint_id, n.trigger_id, n.params,"
        " n.created_at, n.due_by, c.insurer, c.withdrawn_at, p.insurer"
        " FROM notices n LEFT JOIN cases c ON c.case_id = n.case_id"
        " LEFT JOIN complaints p ON p.complaint_id = n.complaint_id"
        " WHERE NOT n.enqueued AND (n.notice_id = ANY(%b) OR n.case_id = ANY(%b))"
        " ORDER BY n.created_at, n.notice_id",
        (new_ids, cases))
    items: list[OutboxItem] = []
    sent: list[str] = []
    dropped: list[str] = []
    for (nid, kind, case_id, complaint_id, trigger, params, created_at, due_by,
         case_insurer, withdrawn_at, complaint_insurer) in await cur.fetchall():
        n = Notice(kind, case_id, complaint_id, trigger, created_at, params)
        insurer = complaint_insurer if kind in COMPLAINT_KINDS else case_insurer
        if insurer is None:
            continue  # waits for its case
        if suppressed_by_withdrawal(n, withdrawn_at):
            dropped.append(nid)
            continue
        items.append(OutboxItem(TOPIC, n.key, notice_event(n, insurer, due_by, now), nid,
                                notice_pii(n)))
        sent.append(nid)
    if sent:
        await conn.execute("UPDATE notices SET enqueued = true WHERE notice_id = ANY(%b)",
                           (sent,))
    if dropped:
        await conn.execute("DELETE FROM notices WHERE notice_id = ANY(%b)", (dropped,))
    return items



async def request_delay_notices(conn: AsyncConnection[Any], fx: Any, now: datetime, limit: int = 1000) -> int:
    """``delay`` notices for determination clocks whose warning mark is set (SPEC §4.12).

    Run in the sweeper's transaction, so it sees every mark, whether the sweeper set it or
    a decision settled it after its warning instant: live runs and replays request the same
    notice (trigger ``determination``, time = the mark). Several sweepers at once request
    it once (rows claimed with SKIP LOCKED, flagged ``delay_noticed``; ``notices`` is keyed
    by the notice id anyway). Returns how many were requested.
    """
    cur = await conn.execute(
        "UPDATE sla_clocks c SET delay_noticed = true FROM (SELECT subject_type, subject_id,"
        " clock FROM sla_clocks WHERE clock = 'determination' AND warned_at IS NOT NULL"
        " AND NOT delay_noticed ORDER BY subject_id LIMIT %s FOR UPDATE SKIP LOCKED) d"
        " WHERE c.subject_type = d.subject_type AND c.subject_id = d.subject_id"
        " AND c.clock = d.clock RETURNING c.subject_type, c.subject_id, c.warned_at, c.due_at",
        (limit,))
    rows = [r[1:] for r in await cur.fetchall() if r[0] == "case"]
    for case_id, warned_at, due_at in rows:
        fx.notice(delay(case_id, warned_at, due_at), now)
    return len(rows)
