"""A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Overall progress across weighted phases, plus the current phase's own fraction."""

    def __init__(self, phases: dict[str, float], stream: TextIO | None = None,
                 width: int = 30) -> None:
        self.weights = phases
        self.total = sum(phases.values()) or 1.0
        self.done: set[str] = set()
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_line = 0.0
        self._last_text = ""
        self.started = time.monotonic()

    def update(self, phase: str, fraction: float = 0.0, detail: str = "") -> None:
        """Show ``phase`` at ``fraction`` (0..1) with a short ``detail``."""
        fraction = min(1.0, max(0.0, fraction))
        before = sum(self.weights.get(p, 0.0) for p in self.done)
        overall = (before + self.weights.get(phase, 0.0) * fraction) / self.total
        filled = int(round(overall * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.started
        text = f"[{bar}] {overall * 100:5.1f}% {elapsed:6.0f}s  {phase}: {detail}"
        if self.tty:
            self.stream.write("\r\033[K" + text[:160])
            self.stream.flush()
            return
        now = time.monotonic()
        if text != self._last_text and (now - self._last_line >= 5.0 or fraction >= 1.0):
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_line = now
            self._last_text = text

    def finish(self, phase: str, detail: str = "done") -> None:
        """Mark ``phase`` complete."""
        self.update(phase, 1.0, detail)
        self.done.add(phase)

    def close(self) -> None:
        """End the bar's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
