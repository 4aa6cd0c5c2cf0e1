"""Charts on the ops page: the server ships Vega-Lite specs, the browser draws them.

A panel calls :func:`chart_block` with a :class:`~workers.charts.Plot`; the page shell loads the vega-embed
bundle from ``/assets/vega.js`` (served by the worker, see :mod:`workers.web`) and renders every
block as SVG (:data:`LOADER`). The worker never renders a chart itself: rendering holds the GIL
and would stall its consumers. Specs skip schema validation here (a few ms each, every refresh);
the unit tests validate the same builders.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from workers.charts import Plot, spec_json
from workers.ops_panels.html import SHANGHAI

ASSET_PATH = "/assets/vega.js"
LOADER = """<script>
window.addEventListener("load", function () {
  var blocks = document.querySelectorAll("div.chart[data-chart]");
  blocks.forEach(function (el) {
    var src = document.getElementById("spec-" + el.dataset.chart);
    if (!window.vegaEmbed) { el.textContent = "charts unavailable (no /assets/vega.js)"; return; }
    vegaEmbed(el, JSON.parse(src.textContent), {renderer: "svg", actions: false})
      .then(function () { el.dataset.rendered = "1"; })
      .catch(function (e) { el.textContent = "chart failed: " + e; });
  });
});
</script>"""


def chart_block(name: str, chart: Plot) -> str:
    """A placeholder ``div`` plus the plot's spec as inert JSON (``name``: [a-z0-9_-])."""
    safe = escape(name)
    return (f'<div class="chart" data-chart="{safe}"></div>'
            f'<script type="application/json" id="spec-{safe}">{spec_json(chart, validate=False)}'
            "</script>")


def local(ts: datetime) -> str:
    """``ts`` as Asia/Shanghai wall time for a ``utc``-scaled temporal axis (the viewer's
    browser time zone must not shift the labels)."""
    return ts.astimezone(SHANGHAI).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
