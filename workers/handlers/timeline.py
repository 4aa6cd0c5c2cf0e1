"""The minimal handler: dedupe through the inbox and append to the case timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.handlers.common import claim_inbox, timeline_row, write_timeline
from workers.records import Incoming


async def record_events(conn: Any, items: Sequence[Incoming], ctx: Any) -> list[str]:
    """Inbox + timeline for any input topic; ``duplicate`` for an identity already seen."""
    topic = items[0].event.type if items else ""
    fresh = await claim_inbox(conn, topic, items)
    await write_timeline(conn, [timeline_row(i, "applied") for i, f in zip(items, fresh) if f])
    return ["applied" if f else "duplicate" for f in fresh]
