"""The vega-embed bundle the ops page's charts run on, made once per process.

vl-convert builds it (≈0.9 MB, a few seconds of CPU) — in a child process, so the worker's
event loop (its consumers) never waits on it; the result is kept in memory and served with a
long cache lifetime. Nothing is fetched from the network: the page works offline.
"""

from __future__ import annotations

import asyncio
import sys

_SCRIPT = "import sys; from workers.charts import javascript_bundle; sys.stdout.write(javascript_bundle())"


class BundleError(RuntimeError):
    """vl-convert could not build the bundle (the page then shows tables only)."""


class VegaBundle:
    """Builds the bundle on first use; later calls return the same bytes."""

    def __init__(self) -> None:
        self._body: bytes | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> bytes:
        async with self._lock:
            if self._body is None:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", _SCRIPT,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await proc.communicate()
                if proc.returncode != 0 or not out:
                    raise BundleError(f"vl-convert bundle failed ({proc.returncode}):"
                                      f" {err.decode(errors='replace')[-300:]}")
                self._body = out
            return self._body


BUNDLE = VegaBundle()
