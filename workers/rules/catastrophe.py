"""Declared catastrophes (巨灾, SPEC §4.5 v2): coverage, versions, the effective cat_code.

Pure functions over :class:`Declaration` versions; the handler and the review chain call
them with what they loaded, so live runs and replays decide the same.

- A case is *covered* by a version when its incident province (and city, when the area
  names one) is in the areas — exact string equality — and ``occurred_at`` lies in
  ``[occurred_from, occurred_to]`` (open-ended when ``occurred_to`` is null).
- The version in force at T is the one with the latest ``declared_at`` ≤ T; coverage for
  ``rm_cases`` uses each catastrophe's latest version.
- A case without an insurer ``cat_code`` gets the effective declared one: among the
  catastrophes covering it, the earliest ``occurred_from``, then the smallest ``cat_code``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: a catastrophe alert resolves this long after the catastrophe's occurred_to
RESOLVE_AFTER = timedelta(hours=72)


@dataclass(frozen=True)
class Declaration:
    """One version of a declared catastrophe (areas as (province, city or None))."""

    cat_code: str
    name: str
    peril: str
    areas: tuple[tuple[str, str | None], ...]
    occurred_from: datetime
    occurred_to: datetime | None
    declared_at: datetime


@dataclass(frozen=True)
class Incident:
    """Where and when a case's loss happened."""

    province: str
    city: str
    occurred_at: datetime


def covers(version: Declaration, incident: Incident) -> bool:
    """Does ``version`` cover a case with this incident?"""
    if incident.occurred_at < version.occurred_from:
        return False
    if version.occurred_to is not None and incident.occurred_at > version.occurred_to:
        return False
    return any(p == incident.province and (c is None or c == incident.city)
               for p, c in version.areas)


def latest_versions(versions: Iterable[Declaration]) -> dict[str, Declaration]:
    """cat_code → its latest version (by ``declared_at``)."""
    out: dict[str, Declaration] = {}
    for v in versions:
        if v.cat_code not in out or v.declared_at > out[v.cat_code].declared_at:
            out[v.cat_code] = v
    return out


def in_force(versions: Iterable[Declaration], at: datetime) -> dict[str, Declaration]:
    """cat_code → the version in force at ``at`` (latest ``declared_at`` ≤ ``at``)."""
    return latest_versions(v for v in versions if v.declared_at <= at)


def effective_cat_code(incident: Incident, latest: Iterable[Declaration]) -> str | None:
    """The declared cat_code of a case without an insurer one (None: not covered)."""
    covering = [v for v in latest if covers(v, incident)]
    if not covering:
        return None
    return min(covering, key=lambda v: (v.occurred_from, v.cat_code)).cat_code


def covered_at(incident: Incident, versions: Sequence[Declaration], at: datetime) -> str | None:
    """The cat_code of a catastrophe whose version in force at ``at`` covers the case
    (catastrophe mode at the initial decision, SPEC §4.3), else None."""
    return effective_cat_code(incident, in_force(versions, at).values())


def is_late(version: Declaration, versions: Sequence[Declaration], incident: Incident,
            decided_at: datetime) -> bool:
    """Would ``version`` have been in force and covering at an initial decision taken
    without it? (Then its late arrival changed nothing: data quality ``late_declaration``.)"""
    current = in_force(versions, decided_at).get(version.cat_code)
    return current == version and covers(version, incident)


def resolves_at(latest: Declaration) -> datetime | None:
    """When the catastrophe alert resolves: ``occurred_to`` + 72 h (None while ongoing)."""
    return None if latest.occurred_to is None else latest.occurred_to + RESOLVE_AFTER


def area_label(areas: Iterable[tuple[str, str | None]]) -> str:
    """``浙江省/温州市, 福建省`` (no PII: declared areas)."""
    return ", ".join(p if c is None else f"{p}/{c}" for p, c in areas)
