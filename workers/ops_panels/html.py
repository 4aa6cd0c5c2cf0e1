"""HTML helpers shared by the ops page panels: escaping, formatting, tables, KPI boxes.

Everything a panel shows goes through :func:`e` (or a helper that calls it): alert summaries
and scopes come from data and must never become markup.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCOPE_ORDER = ("kind", "insurer", "line", "province", "city", "clock", "adjuster_id", "topic")


def e(value: object) -> str:
    """``value`` as escaped text (None → empty)."""
    return escape("" if value is None else str(value))


def fmt_time(ts: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai, or ``–``."""
    return "–" if ts is None else ts.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def fmt_age(now: datetime, since: datetime | None) -> str:
    """Coarse age of ``since`` at ``now``: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    if since is None:
        return "–"
    s = max(0, int((now - since).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def fmt_scope(scope: Any) -> str:
    """An alert's jsonb scope as ``key=value, …`` text."""
    if isinstance(scope, str):
        try:
            scope = json.loads(scope)
        except ValueError:
            return str(scope)
    if isinstance(scope, dict):
        keys = sorted(scope, key=lambda k: (SCOPE_ORDER.index(k) if k in SCOPE_ORDER
                                            else len(SCOPE_ORDER), k))
        return ", ".join(f"{k}={scope[k]}" for k in keys)
    return "" if scope is None else str(scope)


def adjusters_needed(staffing: Any) -> str:
    """``staffing.adjusters_needed`` of a surge alert, or empty."""
    if isinstance(staffing, str):
        try:
            staffing = json.loads(staffing)
        except ValueError:
            return ""
    if isinstance(staffing, dict) and staffing.get("adjusters_needed") is not None:
        return str(staffing["adjusters_needed"])
    return ""


def staffing_inputs(staffing: Any) -> str:
    """The inputs of a surge alert's Erlang C advice, so an operator can check the number:
    ``384.0 cases/h × 1.5 h mean survey = 576.0 Erlangs; 80% of surveys start within 2 h``."""
    if isinstance(staffing, str):
        try:
            staffing = json.loads(staffing)
        except ValueError:
            return ""
    if not isinstance(staffing, dict):
        return ""
    rate, hours = staffing.get("arrival_rate_per_hour"), staffing.get("mean_survey_hours")
    parts = []
    if isinstance(rate, (int, float)):
        parts.append(f"{float(rate):.1f} cases/h")
    if isinstance(hours, (int, float)):
        parts.append(f"{float(hours):g} h mean survey")
    text = " × ".join(parts)
    if isinstance(rate, (int, float)) and isinstance(hours, (int, float)):
        text += f" = {float(rate) * float(hours):.1f} Erlangs"
    if staffing.get("target"):
        text += f"; {staffing['target']}"
    return text


def table(headers: list[str], rows: list[list[str]], numeric_from: int, empty: str) -> str:
    """A table of already-escaped cells; columns from ``numeric_from`` on are right-aligned."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(r)
        ) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bad_if(n: object) -> str:
    """``n`` escaped, highlighted when truthy (a count that should be zero)."""
    return f'<span class="bad">{e(n)}</span>' if n else e(n)


def kpi(label: str, value: object, note: str = "", bad: bool = False) -> str:
    """One KPI box: label, big value, optional small note."""
    cls = ' class="bad"' if bad else ""
    extra = f'<span class="muted">{escape(note)}</span>' if note else ""
    return f'<div class="kpi">{escape(label)}<b{cls}>{e(value)}</b>{extra}</div>'


def kpis(*boxes: str) -> str:
    """A row of :func:`kpi` boxes."""
    return f'<div class="kpis">{"".join(boxes)}</div>'


def section(title: str, body: str, *, wide: bool = False, cls: str = "") -> str:
    """One panel: ``title`` (text, escaped) over ``body`` (markup)."""
    classes = " ".join(c for c in ("wide" if wide else "", cls) if c)
    attr = f' class="{escape(classes)}"' if classes else ""
    return f"<section{attr}><h2>{escape(title)}</h2>{body}</section>"


def severity(sev: object) -> str:
    """An alert severity badge."""
    return f'<span class="sev-{e(sev)}">{e(sev)}</span>'
