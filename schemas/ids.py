"""Deterministic ids of outputs (SPEC §2, §3): UUIDv5 in the URL namespace.

Every output CloudEvents ``id`` is UUIDv5(URL, ``claimdesk:<type>:<fields>``),
so a replay re-publishes the same ids and consumers can dedupe on them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

__all__ = [
    "PAY_WITHIN",
    "alert_id",
    "alert_opened_event_id",
    "alert_resolved_event_id",
    "callback_id",
    "dispatch_assigned_event_id",
    "escalation_id",
    "notice_id",
    "pay_by",
    "payout_approved_event_id",
    "payout_id",
    "scope_json",
]

#: Payment deadline after approval (Insurance Law art. 23): ``pay_by = approved_at + 10 days``.
PAY_WITHIN = timedelta(days=10)


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, name))`` without the ``UUID`` object.

    The same RFC 4122 steps (SHA-1 of namespace + UTF-8 name, first 16 bytes, version 5,
    variant 10) done on bytes: output ids are derived several times per event and the
    stdlib path (UUID.__init__ checks, int round trip) cost ~3x this.
    """
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def payout_id(case_id: str, review_id: str) -> str:
    """``payout_id`` of the approving review: UUIDv5(URL, ``claimdesk:payout:<case>:<review>``)."""
    return _uuid5(f"claimdesk:payout:{case_id}:{review_id}")


def payout_approved_event_id(payout: str) -> str:
    """CloudEvents id of ``payout.approved``: UUIDv5 of ``claimdesk:payout.approved:<payout_id>``."""
    return _uuid5(f"claimdesk:payout.approved:{payout}")


def dispatch_assigned_event_id(
    dispatch_id: str, status: str, adjuster_id: str | None, reassigned: int = 0
) -> str:
    """CloudEvents id of ``dispatch.assigned``.

    UUIDv5 of ``claimdesk:dispatch.assigned:<dispatch_id>:<status>:<adjuster_id or ''>``,
    so the ``queued`` event and the later ``assigned`` one have different ids.

    v2: ``reassigned`` is the number of ``reassigned`` events of the dispatch so far,
    this one included; from the first ``reassigned`` on the name ends in ``:<n>``, so a
    repeat of an earlier (status, adjuster) after a re-routing is a new event.
    """
    if reassigned < 0:
        raise ValueError("reassigned must be >= 0")
    suffix = f":{reassigned}" if reassigned else ""
    return _uuid5(
        f"claimdesk:dispatch.assigned:{dispatch_id}:{status}:{adjuster_id or ''}{suffix}"
    )


def notice_id(kind: str, subject: str, trigger: str) -> str:
    """``notice_id`` (v2), also the CloudEvents id of its ``notice.requested``.

    UUIDv5 of ``claimdesk:notice:<kind>:<subject>:<trigger>``: subject is the case_id,
    else the complaint_id; trigger the ``dispatch_id`` (dispatch_assigned), the
    ``review_id`` (documents_required, decision, complaint_result, complaint_extended),
    the ``payout_id`` (payment_paid) or the literal ``determination`` (delay).
    """
    return _uuid5(f"claimdesk:notice:{kind}:{subject}:{trigger}")


def callback_id(kind: str, subject_id: str) -> str:
    """``callback_id`` (v2), also the CloudEvents id of its ``callback.requested``.

    UUIDv5 of ``claimdesk:callback:<kind>:<subject id>``; subject id is the dispatch_id
    (dispatch), case_id (closing) or complaint_id (complaint).
    """
    return _uuid5(f"claimdesk:callback:{kind}:{subject_id}")


def escalation_id(subject_type: str, subject_id: str, cause: str, level: str) -> str:
    """``escalation_id`` (v2), also the CloudEvents id of its ``escalation.raised``.

    UUIDv5 of ``claimdesk:escalation:<subject_type>:<subject_id>:<cause>:<level>``: each
    (subject, cause, level) escalates once, ever.
    """
    return _uuid5(f"claimdesk:escalation:{subject_type}:{subject_id}:{cause}:{level}")


def scope_json(scope: dict[str, str]) -> str:
    """Canonical text of an alert scope: ``json.dumps(sort_keys=True, ensure_ascii=False)``."""
    return json.dumps(scope, sort_keys=True, ensure_ascii=False)


def alert_id(kind: str, scope: dict[str, str], opened: str) -> str:
    """``alert_id``: UUIDv5 of ``claimdesk:alert:<kind>:<scope as sorted JSON>:<opened>``.

    ``opened`` is the opening window start or opening time as text, e.g.
    ``"2026-11-21T14:00:00+08:00"`` for the surge window starting then.
    """
    return _uuid5(f"claimdesk:alert:{kind}:{scope_json(scope)}:{opened}")


def alert_opened_event_id(alert: str, severity: str) -> str:
    """CloudEvents id of ``alert.opened``: UUIDv5 of ``claimdesk:alert.opened:<id>:<severity>``."""
    return _uuid5(f"claimdesk:alert.opened:{alert}:{severity}")


def alert_resolved_event_id(alert: str) -> str:
    """CloudEvents id of ``alert.resolved``: UUIDv5 of ``claimdesk:alert.resolved:<alert_id>``."""
    return _uuid5(f"claimdesk:alert.resolved:{alert}")


def pay_by(approved_at: datetime) -> datetime:
    """``approved_at + 10 days`` (elapsed time, offset kept)."""
    return approved_at + PAY_WITHIN
