"""Roster files: CSV or JSON; a bad row rejects the whole file with its line number."""

from __future__ import annotations

import pytest

from infra.errors import ConfigError
from tests.conftest import contract_dir
from workers.roster import parse_roster

HEADER = "adjuster_id,name,province,cities,skills,capacity,active\n"


def test_the_contract_sample_parses() -> None:
    rows = parse_roster((contract_dir() / "roster.sample.csv").read_text(encoding="utf-8"))
    assert [r.adjuster_id for r in rows][:2] == ["ADJ-GD-0042", "ADJ-GD-0043"]
    first = rows[0]
    assert first.cities == ("深圳市", "东莞市") and first.skills == ("auto", "heavy_vehicle")
    assert (first.capacity, first.active) == (6, True)
    assert rows[-1].active is False


def test_json_list_of_the_same_objects() -> None:
    text = ('[{"adjuster_id": "A1", "name": "李强", "province": "广东省", "cities": ["深圳市"],'
            ' "skills": "auto;property", "capacity": 3, "active": true}]')
    (row,) = parse_roster(text)
    assert row.skills == ("auto", "property") and row.capacity == 3


@pytest.mark.parametrize(("line", "needle"), [
    ("A2,王芳,广东省,深圳市,auto,-1,true", "capacity"),
    ("A2,王芳,广东省,深圳市,auto,2.5,true", "capacity"),
    ("A2,王芳,广东省,深圳市,spaceship,2,true", "skills"),
    ("A2,王芳,广东省,深圳市,auto,2,yes", "active"),
    ("A2,王芳,广东省,,auto,2,true", "cities"),
    (",王芳,广东省,深圳市,auto,2,true", "adjuster_id"),
    ("A1,王芳,广东省,深圳市,auto,2,true", "repeated"),
])
def test_a_bad_row_rejects_the_file_with_its_line_number(line: str, needle: str) -> None:
    text = HEADER + "A1,李强,广东省,深圳市,auto,2,true\n" + line + "\n"
    with pytest.raises(ConfigError, match=rf"line 3: .*{needle}"):
        parse_roster(text, "r.csv")


def test_a_missing_column_is_named() -> None:
    with pytest.raises(ConfigError, match="line 1: header lacks capacity"):
        parse_roster("adjuster_id,name,province,cities,skills,active\n")
