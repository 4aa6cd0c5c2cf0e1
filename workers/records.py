"""Broker-neutral record types that flow through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from schemas import Envelope, EventData

D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class Record:
    """One consumed Kafka record (independent of faust/aiokafka types)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Incoming:
    """A record whose value validated against its topic's envelope model."""

    record: Record
    event: Envelope  # its topic's model (CaseReportedEvent, ...): decode validated it

    def data(self, model: type[D]) -> D:
        """The event's data as ``model``, the data of the handler's topic.

        Typed access for handlers; another model means the record was routed to the wrong
        handler, a bug (raised, so the pipeline reports it), never bad input.
        """
        d = self.event.data
        if not isinstance(d, model):
            raise TypeError(f"{type(d).__name__} routed to a handler of {model.__name__}")
        return d

    @property
    def source(self) -> str:
        """CloudEvents source."""
        return str(self.event.source)

    @property
    def event_id(self) -> str:
        """CloudEvents id."""
        return str(self.event.id)


#: The ``claimdesk.error.code`` values of SPEC §6, in the order the checks run.
DLT_ERROR_CODES: tuple[str, ...] = ("invalid_json", "invalid_utf8", "too_large", "schema", "unprocessable")


@dataclass(frozen=True)
class DeadLetter:
    """A record that goes to its topic's DLT, with the reason (never a value).

    ``code`` is one of :data:`DLT_ERROR_CODES` (SPEC §6).
    """

    record: Record
    code: str
    message: str
