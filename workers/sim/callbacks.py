"""The simulated outbound calling desk (回访岗): answers the callbacks claimdesk will request.

It predicts the requests with the SPEC's own rule (SPEC §4.10), written again here so the
simulator stays an independent implementation: a ``dispatch`` callback for a sampled
survey (h mod 100 < 20 of SHA-256 ``dispatch:<dispatch_id>``), a ``closing`` one for a
rejected case (mandatory), a ``complaint`` one for every closed complaint. Ids are the
contract's ``callback_id`` (UUIDv5 of ``claimdesk:callback:<kind>:<subject>``).

Outcomes are realistic: most customers answer the first call, about one in five only a
later one, a few never or refuse; satisfaction is mostly 4-5, and one adjuster (the
*bad* one the planner picks) is clearly worse, so the ``satisfaction`` alert fires.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import timedelta
from typing import Any

from workers.sim import people as p

DISPATCH_PERCENT = 20
CLOSING_PERCENT = 30
_GOOD = {5: 55, 4: 31, 3: 10, 2: 3, 1: 1}
_BAD = {5: 8, 4: 15, 3: 17, 2: 30, 1: 30}
_COMMENTS = ("公估师到场及时，态度很好", "定损金额基本合理", "等了很久才有人联系",
             "希望理赔再快一点", "对处理结果不满意", "服务很专业，谢谢")

Answer = tuple[timedelta, dict[str, Any]]  # (delay after the trigger, callback.completed data)


def sampled(kind: str, subject_id: str, percent: int) -> bool:
    """The SPEC's deterministic draw."""
    h = int(hashlib.sha256(f"{kind}:{subject_id}".encode()).hexdigest()[:8], 16)
    return h % 100 < percent


def callback_uuid(kind: str, subject_id: str) -> str:
    """``callback_id`` of the request claimdesk will make."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"claimdesk:callback:{kind}:{subject_id}"))


def answers(rng: random.Random, kind: str, subject_id: str, case_id: str | None,
            complaint_id: str | None, bad: bool) -> list[Answer]:
    """The attempts of one callback, delays counted from the trigger (within 48 h mostly)."""
    base: dict[str, Any] = {"callback_id": callback_uuid(kind, subject_id),
                            "agent_id": f"CB-{rng.randint(1, 24):04d}"}
    if case_id:
        base["case_id"] = case_id
    if complaint_id:
        base["complaint_id"] = complaint_id
    roll = rng.random()
    misses = 3 if roll < 0.03 else 2 if roll < 0.08 else 1 if roll < 0.22 else 0
    at = p.minutes(rng, 60, 20 * 60)
    out: list[Answer] = []
    for attempt in range(1, misses + 1):
        out.append((at, base | {"attempt": attempt, "outcome": "unreachable"}))
        at += p.minutes(rng, 2 * 60, 8 * 60)
    if misses == 3:
        return out
    body = base | {"attempt": misses + 1}
    if rng.random() < 0.04:
        return [*out, (at, body | {"outcome": "refused"})]
    score = p.pick(rng, _BAD if bad else _GOOD)
    body |= {"outcome": "reached", "satisfaction": score,
             "praise": score == 5 and rng.random() < 0.3,
             "report": rng.random() < (0.06 if bad else 0.004)}
    if rng.random() < 0.4:
        body["comment"] = rng.choice(_COMMENTS)
    return [*out, (at, body)]


def pick_bad_adjuster(adjusters: dict[str, list[str]]) -> str | None:
    """The clearly worse adjuster: the first of the best-staffed city (deterministic)."""
    if not adjusters:
        return None
    city = max(sorted(adjusters), key=lambda c: len(adjusters[c]))
    return adjusters[city][0] if adjusters[city] else None
