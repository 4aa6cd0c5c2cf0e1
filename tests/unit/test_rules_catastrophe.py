"""Declared catastrophes: coverage, versions in force, effective cat_code (SPEC §4.5 v2)."""

from __future__ import annotations

import argparse
import shlex
from datetime import datetime, timedelta, timezone

import pytest

from workers.cat_declare import DeclareError, build_event
from workers.cli import _parser
from workers.rules.catastrophe import (
    Declaration,
    Incident,
    area_label,
    covered_at,
    covers,
    effective_cat_code,
    in_force,
    is_late,
    resolves_at,
)

CST = timezone(timedelta(hours=8))
T = datetime(2026, 7, 28, 8, 0, tzinfo=CST)
H = timedelta(hours=1)


def decl(code: str, areas: tuple[tuple[str, str | None], ...], frm: datetime,
         to: datetime | None, at: datetime) -> Declaration:
    return Declaration(code, "台风", "typhoon", areas, frm, to, at)


TY = decl("TY-1", (("浙江省", "温州市"), ("福建省", None)), T - 12 * H, None, T)
WZ = Incident("浙江省", "温州市", T - H)


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        (WZ, True),
        (Incident("福建省", "厦门市", T), True),  # city null: the whole province
        (Incident("浙江省", "杭州市", T), False),  # named city only
        (Incident("浙江省", "温州", T), False),  # exact string equality
        (Incident("浙江省", "温州市", T - 12 * H), True),  # occurred_from inclusive
        (Incident("浙江省", "温州市", T - 13 * H), False),
    ],
)
def test_coverage(incident: Incident, expected: bool) -> None:
    assert covers(TY, incident) is expected


def test_occurred_to_is_inclusive_and_null_is_open_ended() -> None:
    closed = decl("TY-1", (("浙江省", None),), T - H, T, T)
    assert covers(closed, Incident("浙江省", "温州市", T))
    assert not covers(closed, Incident("浙江省", "温州市", T + timedelta(seconds=1)))
    assert covers(TY, Incident("浙江省", "温州市", T + 1000 * H))


def test_version_in_force_is_the_latest_declared_at_or_before() -> None:
    v2 = decl("TY-1", (("福建省", None),), T - 12 * H, None, T + 2 * H)
    assert in_force([TY, v2], T + H) == {"TY-1": TY}
    assert in_force([TY, v2], T + 2 * H) == {"TY-1": v2}
    assert in_force([TY, v2], T - H) == {}
    assert covered_at(WZ, [TY, v2], T + H) == "TY-1"
    assert covered_at(WZ, [TY, v2], T + 3 * H) is None  # v2 dropped 温州市


def test_effective_is_the_earliest_occurred_from_then_the_smallest_code() -> None:
    fl = decl("FL-9", (("浙江省", "温州市"),), T - 20 * H, None, T)
    ab = decl("AB-1", (("浙江省", None),), T - 20 * H, None, T)
    assert effective_cat_code(WZ, [TY]) == "TY-1"
    assert effective_cat_code(WZ, [TY, fl]) == "FL-9"
    assert effective_cat_code(WZ, [TY, fl, ab]) == "AB-1"
    assert effective_cat_code(Incident("上海市", "上海市", T), [TY, fl, ab]) is None


def test_late_only_when_the_version_was_in_force_and_covering_at_the_decision() -> None:
    assert is_late(TY, [TY], WZ, T + H)
    assert not is_late(TY, [TY], WZ, T - timedelta(minutes=1))  # declared after the decision
    assert not is_late(TY, [TY], Incident("浙江省", "杭州市", T), T + H)
    v2 = decl("TY-1", TY.areas, TY.occurred_from, None, T + 30 * timedelta(minutes=1))
    assert not is_late(TY, [TY, v2], WZ, T + H)  # v2 was in force then, not TY
    assert is_late(v2, [TY, v2], WZ, T + H)


def test_alert_resolves_72_hours_after_occurred_to() -> None:
    assert resolves_at(TY) is None
    assert resolves_at(decl("X", TY.areas, T, T + H, T)) == T + 73 * H
    assert area_label(TY.areas) == "浙江省/温州市, 福建省"


def _args(line: str) -> argparse.Namespace:
    return _parser().parse_args(["cat", "declare", *shlex.split(line)])


def test_cat_declare_builds_a_valid_event() -> None:
    ev = build_event(_args("--code TY-2026-21 --name 台风杜苏芮 --peril typhoon --area 浙江省/温州市"
                           " --area 福建省 --from 2026-07-27T20:00:00+08:00"), now=T)
    assert ev["subject"] == "TY-2026-21" and ev["type"] == "catastrophe.declared"
    assert ev["data"]["areas"] == [{"province": "浙江省", "city": "温州市"},
                                   {"province": "福建省", "city": None}]
    assert ev["data"]["declared_at"] == "2026-07-28T08:00:00+08:00"
    assert ev["data"]["occurred_to"] is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--code TY --name x --peril volcano --area 浙江省 --from 2026-07-27T20:00:00+08:00",
         "--peril"),
        ("--code TY --name x --peril flood --area 浙江省 --from 2026-07-27T20:00:00", "--from"),
        ("--code 'TY 1' --name x --peril flood --area 浙江省 --from 2026-07-27T20:00:00+08:00",
         "--code"),
        ("--code TY --name x --peril flood --area 浙江省/温州市/鹿城区"
         " --from 2026-07-27T20:00:00+08:00", "--area"),
        ("--code TY --name x --peril flood --area 浙江省 --from 2026-07-27T20:00:00+08:00"
         " --to 2026-07-26T20:00:00+08:00", "--to"),
    ],
)
def test_cat_declare_names_the_bad_argument(line: str, message: str) -> None:
    with pytest.raises(DeclareError, match=message):
        build_event(_args(line), now=T)


def test_the_ops_panel_lists_catastrophes_with_areas_and_alert_state() -> None:
    from datetime import date

    from workers.ops_panels.base import PageTime
    from workers.ops_panels.catastrophes import render_catastrophes

    t = PageTime(T, date(2026, 7, 28))
    assert render_catastrophes([], t) == ""
    html = render_catastrophes([(
        "TY-2026-21", "台风<杜苏芮>", "typhoon",
        [{"province": "浙江省", "city": "温州市"}, {"province": "福建省", "city": None}],
        T - 12 * H, None, T, 2, 17, True)], t)
    assert "浙江省/温州市, 福建省" in html and "ongoing" in html and "open" in html
    assert "台风&lt;杜苏芮&gt;" in html and "<杜苏芮>" not in html  # escaped
    assert ">17<" in html
