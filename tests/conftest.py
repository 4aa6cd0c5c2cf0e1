"""Shared fixtures: paths to the contract samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: The repository's copy of ../shared/contract/examples, for checkouts without ../shared
#: (tests/unit/test_contract_copy.py keeps it equal to the shared contract when present).
VENDORED_CONTRACT = ROOT / "tests" / "contract" / "examples"
SHARED_CONTRACT = ROOT.parent / "shared" / "contract" / "examples"


def contract_dir() -> Path:
    """The contract's sample events: CLAIMDESK_CONTRACT_DIR, else the shared contract
    (../shared/contract/examples) when this checkout sits beside it, else the copy in
    tests/contract/examples."""
    env = os.environ.get("CLAIMDESK_CONTRACT_DIR")
    if env:
        return Path(env)
    return SHARED_CONTRACT if SHARED_CONTRACT.is_dir() else VENDORED_CONTRACT


@pytest.fixture(scope="session")
def examples() -> Path:
    """Directory of the contract's sample events."""
    path = contract_dir()
    if not path.is_dir():
        pytest.fail(f"contract samples not found at {path} (set CLAIMDESK_CONTRACT_DIR)")
    return path
