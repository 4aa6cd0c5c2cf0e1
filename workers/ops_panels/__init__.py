"""Panels of the ops page, discovered from this package's modules (each exposes ``PANELS``).

Order ranges (``Panel.order``) so panels of different features do not collide:
10-19 surges and catastrophes, 20-29 backlog, 30-39 SLA, 40-49 payments,
50-59 callbacks and escalations, 60-69 charts of activity, 70-79 alerts, 80-89 statistics.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from workers.ops_panels.base import PageTime, Panel, Reader, Row

__all__ = ["PageTime", "Panel", "Reader", "Row", "discover_panels"]

_SKIP = {"base", "html", "chart"}


def discover_panels() -> list[Panel[Any]]:
    """Every ``PANELS`` entry of this package's modules, in page order."""
    found: list[Panel[Any]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "PANELS", []))
    names = [p.name for p in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"ops panels with the same name: {sorted(duplicates)}")
    return sorted(found, key=lambda p: (p.order, p.name))
