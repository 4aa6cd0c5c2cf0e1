"""tests/contract/examples is a copy of the shared contract's samples, for checkouts that
do not sit beside ../shared (a CI runner's clean checkout). Where the shared contract is
present, the copy must equal it, so a contract change cannot go unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_CONTRACT, VENDORED_CONTRACT


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def test_the_copy_has_every_sample_the_tests_use() -> None:
    names = set(_files(VENDORED_CONTRACT))
    assert {"case.reported.json", "dispatch.requested.json", "review.completed.survey.json",
            "complaint.filed.json", "payout.approved.json", "roster.sample.csv"} <= names


@pytest.mark.skipif(not SHARED_CONTRACT.is_dir(), reason="no ../shared beside this checkout")
def test_the_copy_equals_the_shared_contract() -> None:
    assert _files(VENDORED_CONTRACT) == _files(SHARED_CONTRACT), (
        "tests/contract/examples differs from ../shared/contract/examples: copy it again"
        " and adapt to the contract change")
