"""Business thresholds (SPEC §4) and their per-insurer / per-line overrides.

A :class:`Policy` holds every threshold with the SPEC default. A
:class:`PolicyBook` holds the default policy plus fully resolved policies per
insurer and per (insurer, line); :meth:`PolicyBook.for_case` picks the most
specific one. :func:`parse_policy_toml` reads the operator's TOML file
(``CLAIMDESK_POLICY_FILE``); see ``policy.example.toml`` next to this module.

Layout of the TOML file::

    [defaults]                       # top-level fields of Policy
    fast_track_limit = "5000.00"
    [defaults.sla]                   # sections: sla, surge, staffing, backlog,
    initial_review = "72h"           #   group_complaint, callbacks, escalation
    [insurer.PICC]                   # insurer overrides: money, pay_by, payment_tracking,
    fast_track_limit = "8000.00"     #   [sla], [escalation]
    [insurer.PICC.line.auto.sla]     # (insurer, line) overrides: money, pay_by, [sla]
    survey_urgent = "2h"

Durations are strings ``<number><unit>`` with unit ``s``, ``m``, ``h`` or ``d``
(``"30m"``, ``"1.5h"``, ``"30d"``; a day is 24 h of elapsed time). Money is a
string like ``"5000.00"`` (or a TOML integer), never a TOML float. Unspecified
fields inherit: (insurer, line) ← insurer ← defaults. Surge, staffing, backlog,
group-complaint and callback sampling thresholds are not per case, so they are
only accepted under ``[defaults]``. v2 (SPEC §9): ``payment_tracking`` (bool) and
``[escalation] supervisor`` (an id; ``{insurer}`` in it stands for the insurer
code) are per insurer, not per line. Feature code reads them through
:class:`PolicyBook` accessors (``supervisor``, ``payment_tracking``,
``payment_window``, ``callback_window``, ``sample_percent``).
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
    payment: timedelta = timedelta(days=10)  # v2: Insurance Law art. 23, pay within 10 days
    callback: timedelta = timedelta(hours=48)  # v2
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
class CallbackPolicy:
    """Callback sampling percentages (SPEC §4.10), 0–100."""

    dispatch_percent: int = 20
    closing_percent: int = 30


#: Default supervisor id template; ``{insurer}`` is replaced by the insurer code.
DEFAULT_SUPERVISOR = "supervisor:{insurer}"


@dataclass(frozen=True)
class EscalationPolicy:
    """Who supervisor-level escalations go to (SPEC §4.11).

    ``supervisor`` is an id, or a template in which ``{insurer}`` stands for the
    insurer code (the default ``supervisor:{insurer}`` gives ``supervisor:PICC``).
    """

    supervisor: str = DEFAULT_SUPERVISOR


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
    payment_tracking: bool = True  # v2: false = the insurer has no settlement feed
    callbacks: CallbackPolicy = CallbackPolicy()
    escalation: EscalationPolicy = EscalationPolicy()

    def supervisor_for(self, insurer: str) -> str:
        """The supervisor id of ``insurer``'s work (``escalation.supervisor``, §4.11)."""
        return self.escalation.supervisor.replace("{insurer}", insurer)

    def sample_percent(self, kind: str) -> int:
        """Sampling percentage of a ``dispatch`` or ``closing`` callback (§4.10)."""
        if kind == "dispatch":
            return self.callbacks.dispatch_percent
        if kind == "closing":
            return self.callbacks.closing_percent
        raise ValueError(f"callback kind {kind!r} is not sampled")


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

    def for_insurer(self, insurer: str) -> Policy:
        """The policy of an insurer (no line: complaints, settlements, escalations)."""
        return self.by_insurer.get(insurer, self.default)

    def supervisor(self, insurer: str) -> str:
        """Supervisor id for ``insurer`` (default ``supervisor:<insurer>``)."""
        return self.for_insurer(insurer).supervisor_for(insurer)

    def payment_tracking(self, insurer: str) -> bool:
        """False when ``insurer`` has no settlement feed: no payment clock (§4.8)."""
        return self.for_insurer(insurer).payment_tracking

    def payment_window(self, insurer: str, line: str) -> timedelta:
        """Window of the ``payment`` clock of a case (``sla.payment``, default 10 days)."""
        return self.for_case(insurer, line).sla.payment

    def callback_window(self, insurer: str) -> timedelta:
        """Window of the ``callback`` clock (``sla.callback``, default 48 h)."""
        return self.for_insurer(insurer).sla.callback

    def sample_percent(self, kind: str) -> int:
        """Callback sampling percentage (``callbacks.*_percent``; defaults only)."""
        return self.default.sample_percent(kind)


_SECTIONS: dict[str, type[Any]] = {
    "sla": SlaPolicy,
    "surge": SurgePolicy,
    "staffing": StaffingPolicy,
    "backlog": BacklogPolicy,
    "group_complaint": GroupComplaintPolicy,
    "callbacks": CallbackPolicy,
    "escalation": EscalationPolicy,
}
#: Sections an [insurer.X] table may override; [insurer.X.line.Y] may override only sla.
_INSURER_SECTIONS = frozenset({"sla", "escalation"})
_LINE_SECTIONS = frozenset({"sla"})
#: Top-level keys accepted under [defaults] and [insurer.X] but not per line.
_NOT_PER_LINE = frozenset({"payment_tracking"})
_PERCENT_FIELDS = frozenset({"dispatch_percent", "closing_percent"})
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
    default = _apply(Policy(), _changes(_table(doc, "defaults", ""), "defaults", set(_SECTIONS)))
    by_insurer: dict[str, Policy] = {}
    by_line: dict[tuple[str, str], Policy] = {}
    for insurer, raw in _table(doc, "insurer", "").items():
        path = f"insurer.{insurer}"
        table = _as_table(raw, path)
        lines = _as_table(table.pop("line", {}), f"{path}.line")
        insurer_policy = _apply(default, _changes(table, path, _INSURER_SECTIONS))
        if table:
            by_insurer[insurer] = insurer_policy
        for line, line_raw in lines.items():
            line_path = f"{path}.line.{line}"
            if line not in LINES:
                raise PolicyError(f"{line_path}: unknown line (one of {', '.join(sorted(LINES))})")
            line_changes = _changes(_as_table(line_raw, line_path), line_path, _LINE_SECTIONS)
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


def _changes(
    table: Mapping[str, Any], path: str, sections: set[str] | frozenset[str]
) -> dict[str, Changes]:
    """Validated changes grouped by section ('' = top level of Policy)."""
    top_fields = {f.name for f in dataclasses.fields(Policy)} - set(_SECTIONS)
    per_line = sections == _LINE_SECTIONS
    if per_line:
        top_fields -= _NOT_PER_LINE
    for key in table:
        if key in _SECTIONS and key not in sections:
            where = "[defaults] or [insurer.X]" if key in _INSURER_SECTIONS else "[defaults]"
            raise PolicyError(f"{path}.{key}: only allowed under {where}")
        if per_line and key in _NOT_PER_LINE:
            raise PolicyError(f"{path}.{key}: only allowed under [defaults] or [insurer.X]")
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
        if isinstance(default, bool):  # before int: bool is an int
            return _flag(raw)
        if isinstance(default, str):
            return _identifier(raw)
        if key in _PERCENT_FIELDS:
            return _percent(raw)
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


def _flag(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise TypeError("expected true or false")
    return raw


def _identifier(raw: object) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 128 or any(
        ch.isspace() or ord(ch) < 32 for ch in raw
    ):
        raise ValueError("expected an id: 1-128 characters, no spaces")
    return raw


def _percent(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100:
        raise ValueError("expected a whole number from 0 to 100")
    return raw


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
