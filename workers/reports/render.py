"""A report as a terminal table, CSV (one long table: section, day, key, metric, value) or one
self-contained HTML file with inline SVG charts (no script, no network, prints well)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape

from workers.charts import Plot, to_svg
from workers.reports import charts
from workers.reports.data import LINES, ReportData
from workers.reports.textfmt import text_table
from workers.rules.scorecard import Ranked, rank_worst_first

SCORE_HEADERS = ["rank", "adjuster", "name", "reasons", "penalty", "assigned", "completed",
                 "unable", "on time", "on-time rate", "complaints", "upheld", "reached",
                 "satisfaction", "dissatisfied", "praise", "reports"]


def _pct(v: Decimal | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def _num(v: object) -> str:
    return "n/a" if v is None else str(v)


def title(d: ReportData) -> str:
    """``月报 Monthly report 2026-11 (2026-11-01 – 2026-11-30, Asia/Shanghai)``."""
    kind = "周报 Weekly report" if d.period.kind == "week" else "月报 Monthly report"
    last = d.period.end - timedelta(days=1)
    return (f"{kind} {d.period.label} ({d.period.start.isoformat()} – {last.isoformat()},"
            " Asia/Shanghai)")


def scorecard_rows(ranked: Iterable[Ranked]) -> list[list[str]]:
    """The scorecard table's rows in ``SCORE_HEADERS`` order, ranked as given."""
    out = []
    for n, r in enumerate(ranked, 1):
        s = r.row
        out.append([str(n), s.adjuster_id, s.name_masked or "", "; ".join(r.reasons),
                    str(r.penalty), str(s.dispatches_assigned), str(s.surveys_completed),
                    str(s.surveys_unable), str(s.surveys_on_time), _pct(s.survey_on_time_rate),
                    str(s.complaints), str(s.complaints_upheld), _num(s.callbacks_reached),
                    _num(s.satisfaction_avg), _num(s.dissatisfied), _num(s.praise),
                    _num(s.reports)])
    return out


def _sections(d: ReportData) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every tabular section, shared by the table and HTML forms."""
    totals = d.totals()
    lines = [ln for ln in (*LINES, "unknown") if any(d.intake(day, ln) for day in d.period.days)]
    intake = [[day.isoformat(), *(str(d.intake(day, ln)) for ln in lines),
               str(sum(d.intake(day, ln) for ln in lines))] for day in d.period.days]
    clocks = [[c.clock, str(c.stopped), str(c.on_time), _pct(c.rate)] for c in d.clocks]
    callbacks = [[c.day.isoformat(), str(c.reached), _num(None if c.satisfaction_avg is None
                                                          else round(c.satisfaction_avg, 2)),
                  str(c.dissatisfied), str(c.refused), str(c.unreachable)]
                 for c in d.callbacks or []]
    complaints = [[c.category, str(c.filed), str(c.merged), str(c.upheld), str(c.dismissed),
                   str(c.open)] for c in d.complaints]
    return [
        ("Totals", list(totals), [[str(v) for v in totals.values()]]),
        ("Daily intake per line (cases reported)", ["day", *lines, "total"], intake),
        ("On-time rate per SLA clock (clocks stopped in the period)",
         ["clock", "stopped", "on time", "rate"], clocks),
        ("Callbacks (by result day)" + ("" if d.callbacks is not None else ": not tracked yet"),
         ["day", "reached", "satisfaction", "dissatisfied", "refused", "unreachable"], callbacks),
        ("Complaints per category (filed in the period)",
         ["category", "filed", "merged", "upheld", "dismissed", "open"], complaints),
        (f"Adjuster scorecard {d.period.scorecard_month:%Y-%m}, worst first", SCORE_HEADERS,
         scorecard_rows(rank_worst_first(d.scorecard))),
    ]


def render_table(d: ReportData) -> str:
    out = [title(d), ""]
    for name, headers, rows in _sections(d):
        out += [f"== {name}", text_table(headers, rows) if rows else "(none)", ""]
    return "\n".join(out)


def render_csv(d: ReportData) -> str:
    """Long format: one value per row, so spreadsheets and scripts pivot as they like."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["period", "section", "day", "key", "metric", "value"])
    p = d.period.label
    for metric, value in d.totals().items():
        w.writerow([p, "totals", "", "", metric, value])
    for (day, line), values in sorted(d.daily.items()):
        for metric, value in values.items():
            w.writerow([p, "daily", day.isoformat(), line, metric, value])
    for c in d.clocks:
        w.writerow([p, "sla", "", c.clock, "stopped", c.stopped])
        w.writerow([p, "sla", "", c.clock, "on_time", c.on_time])
        w.writerow([p, "sla", "", c.clock, "on_time_rate", "" if c.rate is None else f"{c.rate:.4f}"])
    for cb in d.callbacks or []:
        for metric in ("reached", "satisfaction_avg", "dissatisfied", "refused", "unreachable"):
            value = getattr(cb, metric)
            w.writerow([p, "callbacks", cb.day.isoformat(), "", metric,
                        "" if value is None else value])
    for cc in d.complaints:
        for metric in ("filed", "merged", "upheld", "dismissed", "open"):
            w.writerow([p, "complaints", "", cc.category, metric, getattr(cc, metric)])
    for n, r in enumerate(rank_worst_first(d.scorecard), 1):
        key = r.row.adjuster_id
        w.writerow([p, "scorecard", f"{d.period.scorecard_month:%Y-%m}", key, "rank", n])
        for field, value in vars(r.row).items():
            if field != "adjuster_id":
                w.writerow([p, "scorecard", f"{d.period.scorecard_month:%Y-%m}", key, field,
                            "" if value is None else value])
        w.writerow([p, "scorecard", f"{d.period.scorecard_month:%Y-%m}", key, "reasons",
                    "; ".join(r.reasons)])
    return buf.getvalue()


# --- HTML -------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{font-size:20px;margin:0}
main{padding:14px 24px;max-width:1100px}
section{background:#fff;border-radius:6px;padding:12px 16px;margin:0 0 14px;
 box-shadow:0 1px 2px #0002;overflow-x:auto}
h2{font-size:16px;margin:2px 0 8px}
table{border-collapse:collapse;margin-top:8px}
th,td{text-align:right;padding:2px 8px;border-bottom:1px solid #e4e6eb;font-size:12px;
 white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td.reasons{text-align:left;color:#b3261e;white-space:normal;min-width:240px}
.kpis{display:flex;gap:10px;flex-wrap:wrap}
.kpi{border:1px solid #e4e6eb;border-radius:6px;padding:6px 10px;min-width:110px;background:#fff}
.kpi b{display:block;font-size:20px}
.muted{color:#777}
.chart svg{max-width:100%;height:auto}
footer{color:#777;font-size:12px;padding:0 24px 20px}
"""

_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG document made safe to inline beside others: its ids get ``prefix``."""
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    return _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)


def _html_table(headers: list[str], rows: list[list[str]], reasons_col: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="reasons">{escape(c)}</td>' if i == reasons_col else f"<td>{escape(c)}</td>"
        for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(chart: Plot | None, name: str, empty: str, svg: Callable[[Plot], str]) -> str:
    if chart is None:
        return f'<p class="muted">{escape(empty)}</p>'
    return f'<div class="chart" data-chart="{name}">{inline_svg(svg(chart), name)}</div>'


def render_html(d: ReportData, generated_at: datetime,
                svg: Callable[[Plot], str] = to_svg) -> str:
    ranked = rank_worst_first(d.scorecard)
    sections = _sections(d)
    totals = "".join(f'<div class="kpi">{escape(k)}<b>{v}</b></div>' for k, v in d.totals().items())
    blocks = [
        ("intake", "每日报案 Daily intake per line", charts.intake_chart(d), "No cases reported.",
         sections[1]),
        ("ontime", "时效 On-time rate per SLA clock", charts.on_time_chart(d),
         "No SLA clock stopped in the period.", sections[2]),
        ("callbacks", "回访 Callbacks and satisfaction", charts.callbacks_chart(d),
         "Callbacks are not tracked by this database yet." if d.callbacks is None
         else "No callback results in the period.", sections[3]),
        ("complaints", "投诉 Complaints per category", charts.complaints_chart(d),
         "No complaints filed.", sections[4]),
    ]
    body = [f'<section><h2>合计 Totals</h2><div class="kpis">{totals}</div></section>']
    for name, heading, chart, empty, (_, headers, rows) in blocks:
        table = _html_table(headers, rows)
        if len(rows) > 10:  # the chart says it; the figures stay one click away
            table = f"<details><summary>figures</summary>{table}</details>"
        body.append(f'<section id="{name}"><h2>{escape(heading)}</h2>'
                    f"{_chart(chart, name, empty, svg)}{table}</section>")
    _, headers, rows = sections[5]
    body.append(
        f'<section id="scorecard"><h2>考核 Adjuster scorecard {d.period.scorecard_month:%Y-%m}'
        " (worst first, with reasons)</h2>"
        f"{_chart(charts.scorecard_chart(ranked), 'scorecard', 'No adjuster stands out.', svg)}"
        f"{_html_table(headers, rows, reasons_col=3) if rows else ''}</section>")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>claimdesk {escape(d.period.label)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>claimdesk {escape(title(d))}</h1></header><main>{''.join(body)}</main>"
        f"<footer>Generated {escape(generated_at.isoformat(timespec='seconds'))} from the rm_*"
        " views. Days and months are Asia/Shanghai calendar days of each fact's own data time."
        " Names are masked.</footer></body></html>\n")
