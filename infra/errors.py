"""One exception tree for claimdesk.

Callers decide on the class, never on message text: ``TransientError`` is
retried with backoff and never dead-letters; ``InvalidEvent`` dead-letters.
"""

from __future__ import annotations


class ClaimdeskError(Exception):
    """Root of every error claimdesk raises on purpose."""


class ConfigError(ClaimdeskError):
    """Bad settings, policy or reference data given by an operator."""


class TransientError(ClaimdeskError):
    """A dependency (Postgres, broker) is down or busy: retry, never skip."""


class InvalidEvent(ClaimdeskError):
    """An input event that can never be applied: it goes to the topic's DLT."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class EmbeddedStackError(ClaimdeskError):
    """The embedded broker or Postgres could not start."""
