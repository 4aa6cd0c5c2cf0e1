"""Guard: ``build_output`` writes the envelope JSON by hand (issue 15, per-event CPU).

The reference below is the former implementation (validate the envelope model, then
``model_dump_json``); the fast path must give the same bytes for every output type, any
id/subject text (escapes, non-ASCII, U+2028) and any aware time, and still raise where
the reference raises. Seen failing with ``,"subject":`` swapped for ``, "subject":`` in
``_envelope_json`` and with ``format_timestamp`` replaced by ``time.isoformat()``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import OUTPUT_EVENTS, AlertData, build_output
from schemas.outputs import CLAIMDESK_SOURCE
from tests.conftest import contract_dir

OUTPUT_SAMPLES = ["alert.opened.json", "callback.requested.json", "dispatch.assigned.json",
                  "escalation.raised.json", "notice.requested.json", "payout.approved.json"]


def reference_build_output(type_: str, data: BaseModel, subject: str, event_id: str,
                           time: datetime) -> bytes:
    """The implementation before the fast path (kept as the reference)."""
    model = OUTPUT_EVENTS.get(type_)
    if model is None:
        raise ValueError(f"unknown output type {type_!r}")
    expected: Any = model.model_fields["data"].annotation
    if not isinstance(data, expected):
        raise TypeError(f"{type_} needs {expected.__name__} data, got {type(data).__name__}")
    event = model.model_validate({
        "specversion": "1.0", "id": event_id, "source": CLAIMDESK_SOURCE, "type": type_,
        "time": time, "datacontenttype": "application/json", "subject": subject, "data": data,
    })
    return event.model_dump_json().encode("utf-8")


def _samples() -> list[tuple[str, BaseModel]]:
    out = []
    for name in OUTPUT_SAMPLES:
        raw = json.loads((contract_dir() / name).read_text(encoding="utf-8"))
        event = OUTPUT_EVENTS[raw["type"]].model_validate(raw)
        out.append((event.type, event.data))
    return out


SAMPLES = _samples()


def _same(type_: str, data: BaseModel, subject: str, event_id: str, time: datetime) -> None:
    try:
        expected = reference_build_output(type_, data, subject, event_id, time)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            build_output(type_, data, subject, event_id, time)
        return
    assert build_output(type_, data, subject, event_id, time) == expected


@pytest.mark.parametrize(("type_", "data"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_output_type_gives_the_reference_bytes(type_: str, data: BaseModel) -> None:
    for micro in (0, 120000, 123456):
        for tz in (UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))):
            _same(type_, data, "C-1", "0b4e1f2a-0000-5000-8000-000000000000",
                  datetime(2026, 11, 21, 8, 6, 10, micro, tzinfo=tz))


texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", "a\"b\\c", "\u2028\u2029", "\x00\x1f\x7f", "深圳市", "😀", "x" * 256, "x" * 257])


@settings(max_examples=300, deadline=None)
@given(texts, texts, st.datetimes(timezones=st.timezones() | st.just(UTC)) | st.datetimes(),
       st.sampled_from(SAMPLES))
def test_any_id_subject_and_time_give_the_reference(subject: str, event_id: str,
                                                    time: datetime, sample: Any) -> None:
    _same(sample[0], sample[1], subject, event_id, time)


def test_alert_resolved_without_resolved_at_still_refused() -> None:
    alert = next(d for t, d in SAMPLES if t == "alert.opened")
    assert isinstance(alert, AlertData)
    _same("alert.resolved", alert, "a", "e", datetime(2026, 1, 1, tzinfo=UTC))
    done = alert.model_copy(update={"resolved_at": datetime(2026, 1, 2, tzinfo=UTC)})
    _same("alert.resolved", done, "a", "e", datetime(2026, 1, 1, tzinfo=UTC))


def test_wrong_arguments_raise_as_before() -> None:
    data = next(d for t, d in SAMPLES if t == "payout.approved")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    _same("payout.approved", data, "C-1", "x", datetime(2026, 1, 1))  # naive
    _same("payout.approved", data, "", "x", now)
    _same("payout.approved", data, "C-1", "", now)
    _same("payout.rejected", data, "C-1", "x", now)
    _same("dispatch.assigned", data, "C-1", "x", now)
    _same("payout.approved", data, "C-1", "x", "2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    _same("payout.approved", data.model_copy(update={"amount": Decimal("1.5")}), "C", "x", now)
