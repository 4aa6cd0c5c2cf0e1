"""Panel: declared catastrophes (巨灾) — latest version, covered cases, alert state."""

from __future__ import annotations

from typing import Any

from workers.ops_panels.base import PageTime, Panel, Reader, Row
from workers.ops_panels.html import e, fmt_time, section, table

MAX_CATASTROPHES = 20
Q_CATASTROPHES = """SELECT k.cat_code, k.name, k.peril, k.areas, k.occurred_from, k.occurred_to,
       k.declared_at, k.versions, k.covered_cases,
       (SELECT a.resolved_at IS NULL FROM rm_alerts a WHERE a.kind = 'catastrophe'
         AND a.scope->>'cat_code' = k.cat_code ORDER BY a.opened_at DESC LIMIT 1) AS alert_open
FROM rm_catastrophes k
ORDER BY k.occurred_to IS NULL DESC, k.declared_at DESC LIMIT %s"""


async def fetch_catastrophes(db: Reader, t: PageTime) -> list[Row]:
    """Declared catastrophes, ongoing first."""
    return await db.rows(Q_CATASTROPHES, MAX_CATASTROPHES)


def _areas(areas: Any) -> str:
    if not isinstance(areas, list):
        return ""
    return ", ".join(a["province"] if not a.get("city") else f"{a['province']}/{a['city']}"
                     for a in areas if isinstance(a, dict))


def render_catastrophes(rows: list[Row], t: PageTime) -> str:
    """The panel (empty string when nothing was ever declared)."""
    if not rows:
        return ""
    cells = [[e(code), e(name), e(peril), e(_areas(areas)),
              e(f"{fmt_time(frm)} – {fmt_time(to) if to else 'ongoing'}"), e(fmt_time(declared)),
              e("open" if alert_open else "resolved" if alert_open is not None else ""),
              e(versions), e(covered)]
             for code, name, peril, areas, frm, to, declared, versions, covered, alert_open
             in rows]
    body = table(["cat_code", "name", "peril", "areas", "occurred", "declared (latest)",
                  "alert", "versions", "covered cases"], cells, 7, "")
    note = ('<p class="muted">Covered cases get the green channel (fast track up to the'
            " catastrophe limit) at their initial decision; the alert resolves 72 h after"
            " the catastrophe's end.</p>")
    return section(f"巨灾 Declared catastrophes ({len(rows)})", body + note, wide=True)


PANELS = [Panel("catastrophes", 11, fetch_catastrophes, render_catastrophes)]
