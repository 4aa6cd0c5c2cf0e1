"""Deterministic ids of outputs (SPEC §2, §3): UUIDv5 in the URL namespace.

Every output CloudEvents ``id`` is UUIDv5(URL, ``claimdesk:<type>:<fields>``),
so a replay re-publishes the same ids and consumers can dedupe on them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

__all__ = [
    "PAY_WITHIN",
    "alert_id",
    "alert_opened_event_id",
    "alert_resolved_event_id",
    "dispatch_assigned_event_id",
    "pay_by",
    "payout_approved_event_id",
    "payout_id",
    "scope_json",
]

#: Payment deadline after approval (Insurance Law art. 23): ``pay_by = approved_at + 10 days``.
PAY_WITHIN = timedelta(days=10)


def _uuid5(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def payout_id(case_id: str, review_id: str) -> str:
    """``payout_id`` of the approving review: UUIDv5(URL, ``claimdesk:payout:<case>:<review>``)."""
    return _uuid5(f"claimdesk:payout:{case_id}:{review_id}")


def payout_approved_event_id(payout: str) -> str:
    """CloudEvents id of ``payout.approved``: UUIDv5 of ``claimdesk:payout.approved:<payout_id>``."""
    return _uuid5(f"claimdesk:payout.approved:{payout}")


def dispatch_assigned_event_id(dispatch_id: str, status: str, adjuster_id: str | None) -> str:
    """CloudEvents id of ``dispatch.assigned``.

    UUIDv5 of ``claimdesk:dispatch.assigned:<dispatch_id>:<status>:<adjuster_id or ''>``,
    so the ``queued`` event and the later ``assigned`` one have different ids.
    """
    return _uuid5(f"claimdesk:dispatch.assigned:{dispatch_id}:{status}:{adjuster_id or ''}")


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
