"""Masking helpers (SPEC §8) beyond tests/unit/test_rules_masking.py: more real-world
shapes (landlines with area codes and extensions, spaced and full-width numbers, minority
and foreign names, lower-case ID check characters) and properties over arbitrary text —
a mask never gives back the value and never reveals more than its rule allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.rules.masking import mask_id_number, mask_name, mask_phone, mask_policy_no


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("010-12345678", "010****5678"),  # Beijing landline with area code
        ("(0755)87654321", "(07****4321"),
        ("0755-8765-4321-801", "075****-801"),  # extension: still only 3 + 4 shown
        ("138 1234 5678", "138****5678"),
        ("+86 138 1234 5678", "+86****5678"),
        ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width digits
        ("12345678", "****5678"),  # 8-digit landline without area code
        ("1234567890", "****7890"),
        ("110", "****"),  # emergency / service numbers: nothing shown
        ("\t13812345678\n", "138****5678"),
    ],
)
def test_mask_phone_shapes(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("王", "*"),
        ("王五", "王*"),
        ("诸葛亮", "诸葛*"),  # compound surname, one given character
        ("上官", "上*"),  # a compound surname alone is a 2-character name
        ("阿卜杜拉·买买提", "阿*******"),  # middle dot counts as hidden
        ("李 明", "李**"),
        ("Ｊｏｈｎ", "Ｊ***"),
        ("😀😀", "😀*"),
        ("   ", ""),
    ],
)
def test_mask_name_shapes(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010519491231002x", "110***********002x"),  # lower-case check character
        (" 11010519491231002X ", "110***********002X"),
        ("110105491231002", "110********1002"),  # 15-digit first-generation ID
        ("440305800101123", "440********1123"),
        ("H12345678", "*****5678"),  # Hong Kong / Macao permit-like
        ("   ", ""),
    ],
)
def test_mask_id_number_shapes(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [(" PDAA202644030000004567 ", "****4567"), ("P-2026-01", "****6-01"), ("P1", "****")],
)
def test_mask_policy_no_shapes(raw: str, masked: str) -> None:
    assert mask_policy_no(raw) == masked


def _revealed(masked: str) -> int:
    return sum(1 for c in masked if c != "*")


values = st.text(st.characters(blacklist_characters="*", blacklist_categories=("Cs",)),
                 max_size=40)


@given(values)
def test_no_mask_gives_back_the_value(raw: str) -> None:
    text = raw.strip()
    for mask in (mask_phone, mask_name, mask_id_number, mask_policy_no):
        out = mask(raw)
        if text:
            assert out != text and text not in out, (mask.__name__, raw)
        else:
            assert out == ""


@given(values)
def test_masks_reveal_no_more_than_their_rule(raw: str) -> None:
    n = len(raw.strip())
    phone = mask_phone(raw)
    assert _revealed(phone) == (7 if n >= 11 else 4 if n >= 8 else 0)
    name = mask_name(raw)
    assert len(name) == n and _revealed(name) <= min(2, max(0, n - 1))
    ident = mask_id_number(raw)
    assert len(ident) == n and _revealed(ident) == (7 if n >= 15 else 4 if n >= 9 else 0)
    policy = mask_policy_no(raw)
    assert _revealed(policy) == (4 if n > 8 else 0)
    assert policy == "" if n == 0 else policy.startswith("****")
