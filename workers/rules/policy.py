"""Business thresholds (SPEC §4) and their per-insurer / per-line overrides.

A :class:`Policy` holds every threshold with the SPEC default. A
:class:`PolicyBook` holds the default policy plus fully resolved policies per
insurer and per (insurer, line); :meth:`PolicyBook.for_case` picks the most
specific one. :func:`parse_policy_toml` reads the operator's TOML file
(``CLAIMDESK_POLICY_FILE``); see ``policy.example.toml`` next to this module.

Layout of the TOML file::

    [defaults]                       # top-level fields of Policy
    fast_track_limit = "5000.00"
    [defaults.sla]                   # sections: sla, surge, staffing,
    initial_review = "72h"           #   backlog, group_complaint
    [insurer.PICC]                   # insurer overrides: money, pay_by, [sla]
    fast_track_limit = "8000.00"
    [insurer.PICC.line.auto.sla]     # (insurer, line) overrides: same keys
    survey_urgent = "2h"

Durations are strings ``<number><unit>`` with unit ``s``, ``m``, ``h`` or ``d``
(``"30m"``, ``"1.5h"``, ``"30d"``; a day is 24 h of elapsed time). Money is a
string like ``"5000.00"`` (or a TOML integer), never a TOML float. Unspecified
fields inherit: (insurer, line) ← insurer ← defaults. Surge, staffing, backlog
and group-complaint thresholds are not per case, so they are only accepted
under ``[defaults]``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

LINES: frozenset[str] = frozenset(
    {"auto", "property", "cargo", "liability", "health", "agriculture"}
)
"""The ``line`` enum of case.reported (SPEC §3)."""


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the bad key."""


@dataclass(frozen=True)
class SlaPolicy:
    """SLA clock windows (SPEC §4.4) and the warning fraction."""

    dispatch: timedelta = timedelta(minutes=30)
    survey_urgent: timedelta = timedelta(hours=4)
    survey_normal: timedelta = timedelta(hours=24)
    initial_review: timedelta = timedelta(hours=72)
    second_review: timedelta = timedelta(hours=48)
    joint_review: timedelta = timedelta(hours=120)
    determination: timedelta = timedelta(days=30)
    complaint: timedelta = timedelta(days=15)
    warn_fraction: Decimal = Decimal("0.8")


@dataclass(frozen=True)
class SurgePolicy:
    """Surge detection (SPEC §4.5): windows, EWMA baseline, open/critical/resolve."""

    window: timedelta = timedelta(minutes=10)
    grace: timedelta = timedelta(minutes=2)
    alpha: Decimal = Decimal("0.2")
    warn_min: int = 20
    warn_factor: Decimal = Decimal(3)
    critical_min: int = 40
    critical_factor: Decimal = Decimal(6)
    resolve_windows: int = 3
    resolve_factor: Decimal = Decimal("1.5")
    #: v2 warm-up: a window not this long after the scope's first window is cold ...
    warmup: timedelta = timedelta(minutes=60)
    #: ... and opens a surge (critical) only at this count
    cold_floor: int = 100


@dataclass(frozen=True)
class StaffingPolicy:
    """Erlang C staffing advice in surge alerts (SPEC §4.5)."""

    target_fraction: Decimal = Decimal("0.8")
    target_wait: timedelta = timedelta(hours=2)
    default_mean_survey: timedelta = timedelta(hours=1, minutes=30)
    mean_survey_lookback: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class BacklogPolicy:
    """Backlog and health checks (SPEC §4.6, §4.1 parking)."""

    queue_per_city: int = 50
    oldest_queued: timedelta = timedelta(minutes=30)
    parked_older_than: timedelta = timedelta(hours=24)
    parked_unknown_after: timedelta = timedelta(hours=24)
    consumer_lag: timedelta = timedelta(seconds=60)
    breach_lookback: timedelta = timedelta(minutes=15)
    resolve_checks: int = 2
    check_interval: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class GroupComplaintPolicy:
    """Group complaint (群体性投诉) detection (SPEC §4.6)."""

    min_count: int = 5
    window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Policy:
    """Every business threshold, with SPEC defaults."""

    fast_track_limit: Decimal = Decimal("5000.00")
    cat_fast_track_limit: Decimal = Decimal("20000.00")
    joint_amount_threshold: Decimal = Decimal("100000.00")
    pay_by: timedelta = timedelta(days=10)
    sla: SlaPolicy = SlaPolicy()
    surge: SurgePolicy = SurgePolicy()
    staffing: StaffingPolicy = StaffingPolicy()
    backlog: BacklogPolicy = BacklogPolicy()
    group_complaint: GroupComplaintPolicy = GroupComplaintPolicy()


@dataclass(frozen=True)
class PolicyBook:
    """The default policy plus resolved overrides per insurer and (insurer, line)."""

    default: Policy = Policy()
    by_insurer: Mapping[str, Policy] = field(default_factory=dict)
    by_line: Mapping[tuple[str, str], Policy] = field(default_factory=dict)

    def for_case(self, insurer: str, line: str) -> Policy:
        """The policy of a case: (insurer, line), else insurer, else the default."""
        found = self.by_line.get((insurer, line))
        if found is not None:
            return found
        return self.by_insurer.get(insurer, self.default)


_SECTIONS: dict[str, type[Any]] = {
    "sla": SlaPolicy,
    "surge": SurgePolicy,
    "staffing": StaffingPolicy,
    "backlog": BacklogPolicy,
    "group_complaint": GroupComplaintPolicy,
}
_OVERRIDABLE_SECTIONS = frozenset({"sla"})
_MONEY_FIELDS = frozenset({"fast_track_limit", "cat_fast_track_limit", "joint_amount_threshold"})
_FRACTION_FIELDS = frozenset({"warn_fraction", "alpha", "target_fraction"})
_MONEY_RE = re.compile(r"^(0|[1-9]\d{0,11})(\.\d{1,2})?$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_TEN_MINUTES = timedelta(minutes=10)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Changes = dict[str, Any]


def parse_duration(text: str) -> timedelta:
    """Parse ``"30s"``, ``"30m"``, ``"1.5h"``, ``"30d"`` into a positive timedelta.

    Raises ``ValueError`` for anything else (zero included).
    """
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError('expected a duration like "30m", "4h" or "30d"')
    micros = Decimal(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1_000_000
    if micros <= 0 or micros != micros.to_integral_value():
        raise ValueError("a duration must be positive and whole microseconds")
    return timedelta(microseconds=int(micros))


def parse_policy_toml(text: str) -> PolicyBook:
    """Parse a policy file (layout in the module docstring) into a :class:`PolicyBook`.

    Raises :class:`PolicyError` naming the offending key for syntax errors,
    unknown keys, wrong types and out-of-range values.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file is not valid TOML: {exc}") from exc
    _check_keys(doc, {"defaults", "insurer"}, "")
    default = _apply(Policy(), _changes(_table(doc, "defaults", ""), "defaults", True))
    by_insurer: dict[str, Policy] = {}
    by_line: dict[tuple[str, str], Policy] = {}
    for insurer, raw in _table(doc, "insurer", "").items():
        path = f"insurer.{insurer}"
        table = _as_table(raw, path)
        lines = _as_table(table.pop("line", {}), f"{path}.line")
        insurer_policy = _apply(default, _changes(table, path, False))
        if table:
            by_insurer[insurer] = insurer_policy
        for line, line_raw in lines.items():
            line_path = f"{path}.line.{line}"
            if line not in LINES:
                raise PolicyError(f"{line_path}: unknown line (one of {', '.join(sorted(LINES))})")
            line_changes = _changes(_as_table(line_raw, line_path), line_path, False)
            by_line[(insurer, line)] = _apply(insurer_policy, line_changes)
    return PolicyBook(default=default, by_insurer=by_insurer, by_line=by_line)


def _table(doc: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    return _as_table(doc.get(key, {}), f"{prefix}{key}")


def _as_table(raw: object, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a table")
    return dict(raw)


def _check_keys(table: Mapping[str, Any], allowed: set[str] | frozenset[str], path: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise PolicyError(f"{where}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _changes(table: Mapping[str, Any], path: str, all_sections: bool) -> dict[str, Changes]:
    """Validated changes grouped by section ('' = top level of Policy)."""
    sections = set(_SECTIONS) if all_sections else set(_OVERRIDABLE_SECTIONS)
    top_fields = {f.name for f in dataclasses.fields(Policy)} - set(_SECTIONS)
    for key in table:
        if key in _SECTIONS and key not in sections:
            raise PolicyError(f"{path}.{key}: only allowed under [defaults]")
    _check_keys(table, top_fields | sections, path)
    out: dict[str, Changes] = {"": {}}
    for key, raw in table.items():
        if key in _SECTIONS:
            out[key] = _section_changes(key, _as_table(raw, f"{path}.{key}"), f"{path}.{key}")
        else:
            out[""][key] = _value(Policy, key, raw, f"{path}.{key}")
    return out


def _section_changes(section: str, table: Mapping[str, Any], path: str) -> Changes:
    cls = _SECTIONS[section]
    _check_keys(table, {f.name for f in dataclasses.fields(cls)}, path)
    changes: Changes = {k: _value(cls, k, raw, f"{path}.{k}") for k, raw in table.items()}
    if section == "surge" and timedelta(hours=1) % changes.get("window", _TEN_MINUTES):
        raise PolicyError(f"{path}.window: must divide one hour evenly (e.g. 5m, 10m, 15m)")
    return changes


def _value(cls: type[Any], key: str, raw: object, path: str) -> object:
    default = next(f.default for f in dataclasses.fields(cls) if f.name == key)
    try:
        if isinstance(default, timedelta):
            return _duration(raw)
        if isinstance(default, Decimal):
            return _money(raw) if key in _MONEY_FIELDS else _decimal(raw, key in _FRACTION_FIELDS)
        if isinstance(default, int):
            return _count(raw)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{path}: {exc}; got {raw!r}") from None
    raise PolicyError(f"{path}: cannot be set here")  # pragma: no cover - defensive


def _duration(raw: object) -> timedelta:
    if not isinstance(raw, str):
        raise TypeError('expected a duration string like "30m", "4h" or "30d"')
    return parse_duration(raw)


def _money(raw: object) -> Decimal:
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not _MONEY_RE.match(text):
        raise ValueError('expected an amount string like "5000.00"')
    return Decimal(text)


def _decimal(raw: object, fraction: bool) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise TypeError("expected a number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError("expected a number") from None
    if not value.is_finite() or value <= 0 or (fraction and value >= 1):
        raise ValueError(
            "expected a number strictly between 0 and 1"
            if fraction
            else "expected a positive number"
        )
    return value


def _count(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError("expected a whole number >= 1")
    return raw


def _apply(base: Policy, changes: Mapping[str, Changes]) -> Policy:
    top = dict(changes.get("", {}))
    for section, section_changes in changes.items():
        if section and section_changes:
            top[section] = dataclasses.replace(getattr(base, section), **section_changes)
    return dataclasses.replace(base, **top) if top else base
