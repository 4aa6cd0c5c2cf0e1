"""``claimdesk cat declare``: publish a ``catastrophe.declared`` (SPEC §9, §3).

Centre management declares a catastrophe (巨灾) for areas and an occurrence period. The
arguments are validated against the contract model before anything is published, and a
bad argument gets a message that names it (never a traceback).
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from schemas import CatastropheDeclaredEvent, format_timestamp
from topics import CATASTROPHE_DECLARED

CST = timezone(timedelta(hours=8))
DEFAULT_SOURCE = "center/management"


class DeclareError(ValueError):
    """A bad ``cat declare`` argument (the message names it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cat declare``."""
    parser.add_argument("--code", required=True, help="cat_code, e.g. TY-2026-21")
    parser.add_argument("--name", required=True, help="e.g. 台风“杜苏芮” (not PII)")
    parser.add_argument("--peril", required=True,
                        help="typhoon, flood, rainstorm, earthquake, hail, snow, fire or other")
    parser.add_argument("--area", action="append", required=True, metavar="PROVINCE[/CITY]",
                        help="an area, e.g. 浙江省/温州市 or 福建省 (whole province); repeatable")
    parser.add_argument("--from", dest="occurred_from", required=True,
                        help="start of the occurrence period, RFC 3339 with offset")
    parser.add_argument("--to", dest="occurred_to", default=None,
                        help="end of the occurrence period (omit while it is still going on)")
    parser.add_argument("--declared-at", default=None,
                        help="declaration time (default: now); a later one replaces the earlier")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="CloudEvents source")


def _area(text: str) -> dict[str, Any]:
    parts = [p.strip() for p in text.split("/")]
    if len(parts) > 2 or not all(parts):
        raise DeclareError(f"--area {text!r}: expected PROVINCE or PROVINCE/CITY, e.g. 浙江省/温州市")
    return {"province": parts[0], "city": parts[1] if len(parts) == 2 else None}


def build_event(args: argparse.Namespace, now: datetime | None = None) -> dict[str, Any]:
    """The validated CloudEvents envelope; raises :class:`DeclareError`."""
    declared_at = args.declared_at or format_timestamp(
        (now or datetime.now(UTC)).astimezone(CST).replace(microsecond=0))
    data = {"cat_code": args.code, "name": args.name, "peril": args.peril,
            "areas": [_area(a) for a in args.area], "occurred_from": args.occurred_from,
            "occurred_to": args.occurred_to, "declared_at": declared_at}
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": args.source,
             "type": "catastrophe.declared", "time": declared_at,
             "datacontenttype": "application/json", "subject": args.code, "data": data}
    try:
        model = CatastropheDeclaredEvent.model_validate_json(json.dumps(event))
    except ValidationError as exc:
        raise DeclareError("; ".join(_message(e) for e in exc.errors())) from None
    d = model.data
    if d.occurred_to is not None and d.occurred_to < d.occurred_from:
        raise DeclareError("--to is before --from")
    return event


_OPTION = {"cat_code": "--code", "name": "--name", "peril": "--peril", "areas": "--area",
           "occurred_from": "--from", "occurred_to": "--to", "declared_at": "--declared-at",
           "source": "--source", "time": "--declared-at"}


def _message(error: Any) -> str:
    loc = [str(x) for x in error.get("loc", ()) if str(x) != "data"]
    option = next((_OPTION[x] for x in loc if x in _OPTION), ".".join(loc) or "argument")
    return f"{option}: {error.get('msg', 'invalid')}"


def publish(bootstrap: str, names: Any, event: dict[str, Any]) -> None:
    """Publish the declaration (key = cat_code) and wait for the broker's ack."""
    from workers.sim.publish import HEADERS, make_producer

    producer = make_producer(bootstrap, client_id="claimdesk-cat-declare")
    try:
        producer.send(names.name(CATASTROPHE_DECLARED), key=event["subject"].encode(),
                      value=json.dumps(event, ensure_ascii=False).encode(),
                      headers=HEADERS).get(timeout=30)
    finally:
        producer.close(timeout=5)
