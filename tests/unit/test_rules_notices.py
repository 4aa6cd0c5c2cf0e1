"""Customer notice decisions (SPEC §4.12) and the PII fill of outbox rows (SPEC §8)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from infra.pii_fill import (
    PiiMissing,
    complainant_of,
    decode_ref,
    encode_ref,
    fill,
    fill_rows,
    reporter_of,
    review_reason,
    scrub,
)
from workers.rules import notices as n

CST = timezone(timedelta(hours=8))
T = datetime(2026, 11, 21, 9, 0, tzinfo=CST)


def test_notice_id_is_uuid5_of_kind_subject_trigger() -> None:
    expected = str(uuid.uuid5(uuid.NAMESPACE_URL, "claimdesk:notice:decision:C-1:R-9"))
    assert n.decision("C-1", "R-9", "rejected", None, None, T).notice_id == expected
    delay = n.delay("C-1", T, T + timedelta(days=6))
    assert delay.notice_id == n.notice_id("delay", "C-1", "determination")


def test_due_by_is_one_hour_after_the_trigger_capped_by_the_complaint_due_time() -> None:
    assert n.documents_required("C-1", "R-1", "initial", ["a"], T).due_by == T + timedelta(hours=1)
    soon = T + timedelta(minutes=20)
    result = n.complaint_result("P-1", "C-1", "R-2", "upheld", T, soon)
    assert result.due_by == soon
    late = n.complaint_result("P-1", "C-1", "R-2", "upheld", T, T + timedelta(days=3))
    assert late.due_by == T + timedelta(hours=1)


def test_complaint_notices_go_to_the_complainant_and_are_named_by_the_complaint() -> None:
    a = n.complaint_result("P-1", "C-1", "R-2", "dismissed", T, None)
    b = n.complaint_result("P-2", "C-1", "R-2", "dismissed", T, None)  # merged into P-1
    assert a.recipient == "complainant" and a.key == "C-1"
    assert a.notice_id != b.notice_id
    assert n.payment_paid("C-1", "p", Decimal("5"), T).recipient == "reporter"


def test_decision_params_have_no_amount_for_zero_or_rejection_and_never_a_reason() -> None:
    pay_by = T + timedelta(days=10)
    assert n.decision("C", "R", "approved", Decimal("3200"), pay_by, T).params == {
        "decision": "approved", "amount": "3200.00", "pay_by": pay_by.isoformat()}
    assert n.decision("C", "R", "approved", Decimal("0.00"), None, T).params == {
        "decision": "approved", "amount": None, "pay_by": None}
    assert n.decision("C", "R", "rejected", None, None, T).params == {
        "decision": "rejected", "amount": None, "pay_by": None}


@pytest.mark.parametrize(("minutes", "suppressed"), [(-1, False), (0, True), (5, True)])
def test_case_notices_at_or_after_the_withdrawal_are_suppressed(minutes: int,
                                                                suppressed: bool) -> None:
    notice = n.documents_required("C", "R", "initial", ["x"], T + timedelta(minutes=minutes))
    assert n.suppressed_by_withdrawal(notice, T) is suppressed
    assert n.suppressed_by_withdrawal(notice, None) is False
    complaint = n.complaint_result("P", "C", "R", "upheld", T + timedelta(minutes=5), None)
    assert n.suppressed_by_withdrawal(complaint, T) is False


EVENT = {"id": "x", "data": {"to": {"role": "reporter", "name": "-", "phone": "-"},
                             "params": {"due_at": "t", "reason": "-"}}}
VAULT = {("case", "C-1"): {"reporter_name": "张伟", "reporter_phone": "13812345678"},
         ("complaint", "P-1"): {"complainant_name": "王五", "complainant_phone": "13900001111"},
         ("review", "R-1"): {"reason": "需要补充鉴定"}}


def test_scrub_nulls_every_referenced_field_and_fill_puts_the_vault_values_back() -> None:
    ref = (*complainant_of("P-1"), review_reason("R-1"))
    stored = scrub(json.dumps(EVENT).encode(), ref)
    doc = json.loads(stored)
    assert doc["data"]["to"] == {"role": "reporter", "name": None, "phone": None}
    assert doc["data"]["params"] == {"due_at": "t", "reason": None}
    assert decode_ref(encode_ref(ref)) == ref
    out = json.loads(fill(stored, decode_ref(encode_ref(ref)), VAULT))
    assert out["data"]["to"] == {"role": "reporter", "name": "王五", "phone": "13900001111"}
    assert out["data"]["params"]["reason"] == "需要补充鉴定"
    assert scrub(b'{"a": 1}', ()) == b'{"a": 1}' and encode_ref(()) is None


def test_fill_names_the_missing_subject_and_key_never_a_value() -> None:
    with pytest.raises(PiiMissing, match="reporter_name for case C-2") as err:
        fill(b"{}", reporter_of("C-2"), VAULT)
    assert "张伟" not in str(err.value)


class _Reader:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def read(self, subjects: Iterable[tuple[str, str]]
                   ) -> dict[tuple[str, str], dict[str, Any]]:
        self.asked = sorted(set(subjects))
        return {k: v for k, v in VAULT.items() if k in self.asked}


def test_fill_rows_holds_back_rows_with_missing_pii_and_passes_the_others() -> None:
    reader = _Reader()
    rows = [(1, b'{"a":1}', None), (2, scrub(json.dumps(EVENT).encode(), reporter_of("C-1")),
                                    encode_ref(reporter_of("C-1"))),
            (3, b"{}", encode_ref(reporter_of("C-404")))]
    values, held = asyncio.run(fill_rows(rows, reader))
    assert held == [3] and sorted(values) == [1, 2]
    assert values[1] == b'{"a":1}'
    assert json.loads(values[2])["data"]["to"]["name"] == "张伟"
    assert reader.asked == [("case", "C-1"), ("case", "C-404")]
    with pytest.raises(RuntimeError):
        asyncio.run(fill_rows(rows, None))


def test_decode_ref_text_equals_decode_ref_and_is_memoised() -> None:
    """The relay reads ``pii_ref::text`` (jsonb's own text form) through a memo; the
    reference is :func:`decode_ref` of the parsed value."""
    from infra.pii_fill import complainant_of, decode_ref, decode_ref_text, review_reason

    refs = [reporter_of("C-1"), reporter_of("C-2"), complainant_of("P-9"),
            (review_reason("R-1"), *reporter_of("C-1")), (review_reason("R-2", ("x",)),)]
    for ref in refs:
        compact = encode_ref(ref)
        assert compact is not None
        spaced = json.dumps(json.loads(compact))  # jsonb::text writes ", " and ": "
        for text in (compact, spaced):
            assert decode_ref_text(text) == decode_ref(json.loads(text)) == ref
            assert decode_ref_text(text) is decode_ref_text(text)
