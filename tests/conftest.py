"""Shared fixtures: paths to the contract samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def contract_dir() -> Path:
    """The shared contract samples (../shared/contract/examples) or CLAIMDESK_CONTRACT_DIR."""
    env = os.environ.get("CLAIMDESK_CONTRACT_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "contract" / "examples"


@pytest.fixture(scope="session")
def examples() -> Path:
    """Directory of the contract's sample events."""
    path = contract_dir()
    if not path.is_dir():
        pytest.fail(f"contract samples not found at {path} (set CLAIMDESK_CONTRACT_DIR)")
    return path
