"""Chart plumbing shared by the reports and the ops page: Vega-Lite via Vega-Altair.

Why Altair + vl-convert: charts are declared as data (a Vega-Lite spec), so tests can read
what a chart shows; ``vl-convert`` renders that spec to SVG offline (no browser, no network,
no numpy stack), which makes the HTML report one self-contained file. The live ops page does
not render on the server (vl-convert holds the GIL ~0.1 s per chart, which would stall the
worker's consumers): it ships the spec and the browser draws it with the vega-embed bundle
that vl-convert also provides (:func:`javascript_bundle`, served once by the worker).
Text stays text in the SVG, so Chinese labels use the viewer's CJK font.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import altair as alt

#: An Altair top-level chart; altair types its chained builders loosely (Any), so say so once.
AnyChart = Any

FONT = 'system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif'
CONFIG: dict[str, Any] = {
    "font": FONT,
    "axis": {"labelFontSize": 11, "titleFontSize": 12},
    "legend": {"labelFontSize": 11, "titleFontSize": 12},
    "title": {"fontSize": 14, "anchor": "start"},
    "view": {"stroke": None},
}


ROWS = "rows"


@dataclass(frozen=True)
class Plot:
    """A chart whose marks read the named dataset :data:`ROWS`, and those rows.

    The rows never pass through Altair: it validates and copies inline values (0.3 s for a
    thousand points), which on the ops page would hold the worker's event loop at every load.
    """

    chart: AnyChart
    rows: list[dict[str, Any]]


def data() -> alt.NamedData:
    """The data source of every mark: the plot's rows, attached by :func:`spec`."""
    return alt.NamedData(name=ROWS)


def tooltips(*fields: str) -> list[alt.Tooltip]:
    """Tooltip channels as objects: a plain shorthand string makes Altair rebuild its schema
    lookup table (~15 ms a channel)."""
    return [alt.Tooltip(f) for f in fields]


def spec(plot: Plot, validate: bool = True) -> dict[str, Any]:
    """The plot's Vega-Lite spec (its structure validated unless told), rows and font config."""
    out: dict[str, Any] = plot.chart.to_dict(validate=validate)
    out["datasets"] = {ROWS: plot.rows}
    out["config"] = {**CONFIG, **out.get("config", {})}
    return out


def to_svg(plot: Plot) -> str:
    """The plot as a standalone SVG document (offline)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec(plot))


def spec_json(plot: Plot, validate: bool = True) -> str:
    """The spec as JSON safe to embed in a ``<script type="application/json">``."""
    text = json.dumps(spec(plot, validate), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def javascript_bundle() -> str:
    """vega + vega-lite + vega-embed as one classic script (sets ``window.vegaEmbed``)."""
    import vl_convert

    return vl_convert.javascript_bundle(
        "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;")


def values(chart_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a spec draws (its named dataset)."""
    return list(chart_spec.get("datasets", {}).get(chart_spec.get("data", {}).get("name"), []))
