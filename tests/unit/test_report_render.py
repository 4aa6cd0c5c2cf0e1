"""Weekly/monthly report rendering from hand-made data: table, CSV, self-contained HTML."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

from workers.charts import spec, values
from workers.reports import charts
from workers.reports.data import DAILY_COLUMNS, CallbackDay, ClockRate, ComplaintCategory, ReportData
from workers.reports.period import parse_week
from workers.reports.render import inline_svg, render_csv, render_html, render_table
from workers.rules.scorecard import ScoreRow

D1, D2 = date(2026, 11, 23), date(2026, 11, 24)


def _data() -> ReportData:
    d = ReportData(parse_week("2026-W48"), DAILY_COLUMNS[:7])
    d.daily = {(D1, "auto"): {"reported": 5, "complaints": 1}, (D1, "property"): {"reported": 2},
               (D2, "auto"): {"reported": 3}}
    d.clocks = [ClockRate("dispatch", 10, 9), ClockRate("survey", 4, 4), ClockRate("payment", 0, 0)]
    d.callbacks = [CallbackDay(D1, 3, Decimal("4.3333"), 0, 1, 0), CallbackDay(D2, 1, Decimal(2), 1, 0, 1)]
    d.complaints = [ComplaintCategory("delay", 3, 1, 1, 0, 1), ComplaintCategory("privacy", 0, 0, 0, 0, 0)]
    d.scorecard = [
        ScoreRow("ADJ-1", "李*", 4, 4, 0, 4, Decimal(1), 0, 0, 2, Decimal("4.5"), 0, 1, 0),
        ScoreRow("ADJ-2", "欧阳**", 5, 5, 0, 3, Decimal("0.6"), 1, 1, 1, Decimal(2), 1, 0, 0),
    ]
    return d


def test_table_and_csv_carry_the_same_figures() -> None:
    d = _data()
    table = render_table(d)
    assert "周报 Weekly report 2026-W48 (2026-11-23 – 2026-11-29, Asia/Shanghai)" in table
    assert "2026-11-23  5     2         7" in table
    assert "dispatch  10       9        90.0%" in table
    rows = list(csv.DictReader(io.StringIO(render_csv(d))))
    get = {(r["section"], r["day"], r["key"], r["metric"]): r["value"] for r in rows}
    assert get[("totals", "", "", "reported")] == "10"
    assert get[("daily", "2026-11-23", "property", "reported")] == "2"
    assert get[("sla", "", "dispatch", "on_time_rate")] == "0.9000"
    assert get[("sla", "", "payment", "on_time_rate")] == ""  # no clock stopped: no rate
    assert get[("callbacks", "2026-11-24", "", "dissatisfied")] == "1"
    assert get[("complaints", "", "delay", "merged")] == "1"
    assert get[("scorecard", "2026-11", "ADJ-2", "rank")] == "1"  # worst first
    assert "upheld" in get[("scorecard", "2026-11", "ADJ-2", "reasons")]


def test_chart_specs_hold_the_report_figures() -> None:
    d = _data()
    intake = values(spec(charts.intake_chart(d)))
    assert sorted((r["day"], r["line"], r["reported"]) for r in intake) == [
        ("2026-11-23", "auto", 5), ("2026-11-23", "property", 2), ("2026-11-24", "auto", 3)]
    on_time = values(spec(charts.on_time_chart(d)))
    assert [(r["clock"], r["rate"]) for r in on_time] == [
        ("dispatch", 0.9), ("survey", 1.0)]  # payment: nothing stopped, not drawn
    assert charts.callbacks_chart(ReportData(d.period, ())) is None


def test_html_is_one_self_contained_file_with_five_svg_charts() -> None:
    html = render_html(_data(), datetime(2026, 11, 30, tzinfo=UTC))
    assert not re.search(r"<script|<link|src=\"http|url\(http|@import", html)
    charts_found = re.findall(r'<div class="chart" data-chart="(\w+)"><svg', html)
    assert charts_found == ["intake", "ontime", "callbacks", "complaints", "scorecard"]
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # inlined SVGs do not share ids
    assert "欧阳**" in html and "upheld complaint" in html


def test_inline_svg_prefixes_ids_and_references() -> None:
    svg = '<?xml version="1.0"?><svg><clipPath id="clip1"/><g clip-path="url(#clip1)"/></svg>'
    assert inline_svg(svg, "a") == '<svg><clipPath id="a-clip1"/><g clip-path="url(#a-clip1)"/></svg>'
