"""Masked forms of PII (SPEC §8), edges included."""

from __future__ import annotations

import pytest

from workers.rules.masking import mask_id_number, mask_name, mask_phone, mask_policy_no


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        (" 13812345678 ", "138****5678"),
        ("+8613812345678", "+86****5678"),
        ("0755-12345678", "075****5678"),
        ("075512345678", "075****5678"),
        ("87654321", "****4321"),
        ("8765432", "****"),
        ("95518", "****"),
        ("1", "****"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张伟", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("司马光", "司马*"),
        ("欧阳", "欧*"),  # two characters: never reveal the whole name
        ("张", "*"),
        ("", ""),
        ("John Smith", "J*********"),
        (" 李强 ", "李*"),
    ],
)
def test_mask_name(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010519491231002X", "110***********002X"),
        ("110105491231002", "110********1002"),
        ("E12345678", "*****5678"),
        ("12345678", "********"),
        ("1", "*"),
        ("", ""),
    ],
)
def test_mask_id_number(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked
    assert len(mask_id_number(raw)) == len(raw.strip())


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("PDAA202644030000004567", "****4567"),
        ("123456789", "****6789"),
        ("12345678", "****"),
        ("4567", "****"),
        ("", ""),
    ],
)
def test_mask_policy_no(raw: str, masked: str) -> None:
    assert mask_policy_no(raw) == masked


@pytest.mark.parametrize(
    "raw", ["13812345678", "11010519491231002X", "PDAA202644030000004567", "张伟", "95518", "a"]
)
def test_never_reveals_the_whole_value(raw: str) -> None:
    for mask in (mask_phone, mask_name, mask_id_number, mask_policy_no):
        assert mask(raw) != raw
