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


def spec(chart: alt.TopLevelMixin, validate: bool = True) -> dict[str, Any]:
    """The chart's Vega-Lite spec (validated unless told), with the shared font config."""
    out: dict[str, Any] = chart.to_dict(validate=validate)
    out["config"] = {**CONFIG, **out.get("config", {})}
    return out


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as a standalone SVG document (offline)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec(chart))


def spec_json(chart: alt.TopLevelMixin, validate: bool = True) -> str:
    """The spec as JSON safe to embed in a ``<script type="application/json">``."""
    text = json.dumps(spec(chart, validate), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def javascript_bundle() -> str:
    """vega + vega-lite + vega-embed as one classic script (sets ``window.vegaEmbed``)."""
    import vl_convert

    return vl_convert.javascript_bundle(
        "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;")


def data(rows: list[dict[str, Any]]) -> alt.InlineData:
    """Inline data (no pandas)."""
    return alt.InlineData(values=rows)


def values(chart_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline rows of a top-level spec (Altair moves them into ``datasets``)."""
    found = chart_spec.get("data", {})
    if "values" in found:
        return list(found["values"])
    return list(chart_spec.get("datasets", {}).get(found.get("name"), []))
