"""Guard: the versioned ``data_hash`` (issue 15, per-event CPU).

The reference below is the former digest (kept here): ``legacy_data_hash`` must equal it,
and the new format must split any set of event data into the same classes (equal digests
exactly when the former digests are equal), so ``conflicting_duplicate`` decisions do not
change. ``same_data`` must compare a stored legacy digest with a new event by recomputing
the legacy digest. Seen failing with ``legacy_data_hash`` using ``sort_keys=False``, with
``same_data`` comparing a legacy digest to the new one with ``==``, and with ``data_hash``
cut to 2 hex digits (colliding classes).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import INPUT_EVENTS
from tests.conftest import contract_dir
from workers.simulate import CST, generate
from workers.store.effects import DATA_HASH_V2, data_hash, legacy_data_hash, same_data


def reference_data_hash(data: BaseModel) -> str:
    """The digest before issue 15 (rows written by earlier versions hold it)."""
    raw = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _simulated() -> list[BaseModel]:
    from datetime import datetime, timedelta

    run = generate(400, seed=11, start=datetime(2026, 11, 1, tzinfo=CST),
                   spread=timedelta(days=1), dup_fraction=0.05)
    return [INPUT_EVENTS[e.topic].model_validate_json(e.value).data for e in run.events]


def _samples() -> list[BaseModel]:
    out = []
    for path in sorted(contract_dir().glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        for model in INPUT_EVENTS.values():
            if model.model_fields["type"].default == raw.get("type") or raw.get("type") in str(
                    model.model_fields["type"].annotation):
                out.append(model.model_validate(raw).data)
                break
    return out


DATA = _simulated() + _samples()


def _variants(d: BaseModel) -> list[BaseModel]:
    """``d`` and near copies: one field changed at a time (strings, amounts, flags)."""
    out = [d]
    for name, value in d:
        new: Any = None
        if isinstance(value, Enum):
            continue  # another member would do; a bare string is not a valid value
        if isinstance(value, str):
            new = value + "x"
        elif isinstance(value, bool):
            new = not value
        elif isinstance(value, Decimal):
            new = value + Decimal("0.01")
        elif isinstance(value, int):
            new = value + 1
        if new is not None:
            out.append(d.model_copy(update={name: new}))
    return out


def test_samples_cover_every_input_topic() -> None:
    assert {type(d) for d in _samples()} >= {type(d) for d in _simulated()}
    assert len({type(d) for d in DATA}) >= 7


def test_legacy_digest_is_the_former_one() -> None:
    for d in DATA:
        assert legacy_data_hash(d) == reference_data_hash(d)


def test_new_digests_partition_like_the_former_ones() -> None:
    by_old: dict[str, set[str]] = {}
    by_new: dict[str, set[str]] = {}
    for d in DATA:
        for v in _variants(d):
            old, new = reference_data_hash(v), data_hash(v)
            by_old.setdefault(old, set()).add(new)
            by_new.setdefault(new, set()).add(old)
    assert all(len(s) == 1 for s in by_old.values())
    assert all(len(s) == 1 for s in by_new.values())
    assert len(by_old) > len(DATA)  # the variants really differ


def test_formats_never_collide() -> None:
    for d in DATA[:50]:
        new, old = data_hash(d), reference_data_hash(d)
        assert new.startswith(DATA_HASH_V2) and len(new) == 32 and ":" not in old


@pytest.mark.parametrize("d", DATA[:200])
def test_same_data_across_formats(d: BaseModel) -> None:
    other = _variants(d)[-1]
    assert other != d
    # a stored legacy digest against a new event: the same data is a plain duplicate
    assert same_data(reference_data_hash(d), data_hash(d), d)
    assert not same_data(reference_data_hash(d), data_hash(other), other)
    # same format: equality
    assert same_data(data_hash(d), data_hash(d), d)
    assert not same_data(data_hash(d), data_hash(other), other)
    assert same_data(reference_data_hash(d), reference_data_hash(d))
    assert not same_data(reference_data_hash(d), reference_data_hash(other))
    # two formats without the data (facts from a parked payload): not a conflict
    assert same_data(data_hash(d), reference_data_hash(other))
