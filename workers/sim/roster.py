"""Adjuster roster of the simulated cities (SPEC §4.2 reference data)."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from workers.sim import data, people
from workers.sim.data import City

#: Header of ``roster.sample.csv`` (SPEC §4.2).
ROSTER_FIELDS: tuple[str, ...] = (
    "adjuster_id", "name", "province", "cities", "skills", "capacity", "active",
)
_SKILL_ODDS = {
    "auto": 0.75, "property": 0.4, "cargo": 0.15, "liability": 0.2, "health": 0.2,
    "agriculture": 0.15,
}


def roster(
    seed: int, *, total: int = 160, cities: Sequence[City] = data.CITIES
) -> list[dict[str, str]]:
    """An adjuster roster covering every simulated city, as CSV-compatible string dicts.

    Each city gets about ``total`` × its traffic share adjusters (at least 3).
    The active adjusters of every city together have every skill (the lines
    and ``heavy_vehicle``), so no dispatch is unroutable for lack of a skill.
    Some adjusters also serve a second city of their province; about 4 % are
    inactive. Ids look like ``ADJ-GD-0042`` (unique, ascending per province).
    """
    rng = random.Random(f"roster:{seed}")
    weight_sum = sum(c.weight for c in cities)
    next_no: dict[str, int] = {}
    rows: list[dict[str, str]] = []
    for city in cities:
        count = max(3, round(total * city.weight / weight_sum))
        neighbours = [c.name for c in cities if c.province == city.province and c != city]
        staff: list[dict[str, str]] = []
        for _ in range(count):
            no = next_no.get(city.prov_code, rng.randint(1, 40))
            next_no[city.prov_code] = no + rng.randint(1, 3)
            skills = [s for s, p in _SKILL_ODDS.items() if rng.random() < p] or ["auto"]
            if "auto" in skills and rng.random() < 0.25:
                skills.append("heavy_vehicle")
            served = [city.name]
            if neighbours and rng.random() < 0.3:
                served.append(rng.choice(neighbours))
            staff.append({
                "adjuster_id": f"ADJ-{city.prov_code}-{no:04d}",
                "name": people.person_name(rng),
                "province": city.province,
                "cities": ";".join(served),
                "skills": ";".join(skills),
                "capacity": str(rng.randint(3, 8)),
                "active": "false" if len(staff) >= 3 and rng.random() < 0.04 else "true",
            })
        _cover_skills(staff)
        rows.extend(staff)
    return rows


def _cover_skills(staff: list[dict[str, str]]) -> None:
    """Give missing skills to active adjusters in turn until the city has them all."""
    active = [row for row in staff if row["active"] == "true"]
    for i, skill in enumerate(data.SKILLS):
        if any(skill in row["skills"].split(";") for row in active):
            continue
        row = active[i % len(active)]
        row["skills"] = ";".join(s for s in (*row["skills"].split(";"), skill) if s)


def adjusters_by_city(rows: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
    """City name → ids of the active adjusters serving it (sorted)."""
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["active"] != "true":
            continue
        for city in row["cities"].split(";"):
            out.setdefault(city, []).append(row["adjuster_id"])
    return {city: sorted(ids) for city, ids in out.items()}


def write_roster_csv(path: str | Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write roster rows as UTF-8 CSV with the contract header; returns the path."""
    target = Path(path)
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROSTER_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in ROSTER_FIELDS})
    return target
