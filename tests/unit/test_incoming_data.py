"""``Incoming.data``: handlers get their topic's data model, typed; another is a routing bug."""

import pytest

from schemas import CaseReported, CaseReportedEvent, CaseWithdrawn
from workers.records import Incoming, Record


def _incoming() -> Incoming:
    event = CaseReportedEvent.model_construct(data=CaseReported.model_construct())
    return Incoming(Record("case-reported", 0, 0, None, b"{}"), event)


def test_the_topics_model_is_returned_as_is() -> None:
    item = _incoming()
    assert item.data(CaseReported) is item.event.data


def test_another_model_is_refused() -> None:
    with pytest.raises(TypeError, match="CaseReported routed to a handler of CaseWithdrawn"):
        _incoming().data(CaseWithdrawn)
