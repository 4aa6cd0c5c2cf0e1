"""HTTP pages served on the metrics port: ``/metrics``, ``/healthz``, the ops page ``/`` and
the script its charts run on (``/assets/vega.js``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workers.ops_assets import BUNDLE, BundleError
from workers.ops_panels.chart import ASSET_PATH
from workers.runtime import Runtime

OpsPage = Callable[[Runtime], Awaitable[str]]


def add_pages(app: faust.App, runtime: Runtime, ops_page: OpsPage | None = None) -> None:
    """Register the pages on faust's web server (one port per process)."""

    @app.page("/metrics")
    async def metrics(self: Any, request: Any) -> Any:
        # aiohttp takes the charset separately from the content type
        return self.bytes(generate_latest(runtime.metrics.registry),
                          content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        ok = await runtime.healthy()
        return self.text("ok\n" if ok else "starting\n", status=200 if ok else 503)

    if ops_page is not None:
        page = ops_page

        @app.page("/")
        async def index(self: Any, request: Any) -> Any:
            return self.html(await page(runtime))

        @app.page(ASSET_PATH)
        async def vega_bundle(self: Any, request: Any) -> Any:
            try:
                body = await BUNDLE.get()
            except BundleError:
                return self.text("charts unavailable\n", status=503)
            return self.bytes(body, content_type="text/javascript",
                              headers={"Cache-Control": "public, max-age=86400"})
