"""One exception tree for claimdesk.

Callers decide on the class, never on message text: ``TransientError`` is
retried with backoff and never dead-letters (``infra.retry``); invalid input is a
``workers.records.DeadLetter`` value, not an exception.
"""

from __future__ import annotations


class ClaimdeskError(Exception):
    """Root of every error claimdesk raises on purpose."""


class ConfigError(ClaimdeskError):
    """Bad settings, policy or reference data given by an operator."""


class TransientError(ClaimdeskError):
    """A dependency (Postgres, broker) is down or busy: retry, never skip."""


class EmbeddedStackError(ClaimdeskError):
    """The embedded broker or Postgres could not start."""
