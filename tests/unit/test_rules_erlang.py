"""Erlang B / C against published values, stability and input checks."""

from __future__ import annotations

import math

import pytest

from workers.rules.erlang import (
    agents_needed,
    erlang_b,
    erlang_c,
    service_level,
    traffic,
)

# Published example: 100 calls per 30 min, 3 min handling, 80 % answered within 20 s.
RATE = 200.0  # per hour
HANDLE = 3 / 60  # hours
WAIT = 20 / 3600  # hours


def test_published_example() -> None:
    assert traffic(RATE, HANDLE) == pytest.approx(10.0)
    assert agents_needed(RATE, HANDLE, 0.8, WAIT) == 14
    assert erlang_c(10.0, 14) == pytest.approx(0.1741, abs=5e-5)
    assert service_level(10.0, 14, WAIT, HANDLE) == pytest.approx(0.8884, abs=1e-4)
    assert service_level(10.0, 13, WAIT, HANDLE) < 0.8


@pytest.mark.parametrize(
    ("a", "n", "expected"),
    [(1.0, 1, 0.5), (2.0, 2, 0.4), (10.0, 10, 0.2146), (0.0, 3, 0.0), (5.0, 0, 1.0)],
)
def test_erlang_b(a: float, n: int, expected: float) -> None:
    assert erlang_b(a, n) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("a", "n", "expected"),
    [(1.0, 2, 1 / 3), (10.0, 11, 0.6821), (10.0, 10, 1.0), (10.0, 5, 1.0), (0.0, 1, 0.0)],
)
def test_erlang_c(a: float, n: int, expected: float) -> None:
    assert erlang_c(a, n) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("rate", "hours", "target", "wait", "expected"),
    [
        (0.0, 1.5, 0.8, 2.0, 0),
        (1.0, 1.5, 0.8, 2.0, 3),  # 2 agents: 67 % within 2 h
        (384.0, 1.5, 0.8, 2.0, 578),
        (200.0, HANDLE, 0.8, 0.0, 14),  # zero wait: 1 - C(10, 14) = 0.826
        (200.0, HANDLE, 0.9, 0.0, 16),  # 1 - C(10, 15) = 0.898 < 0.9
    ],
)
def test_agents_needed(
    rate: float, hours: float, target: float, wait: float, expected: int
) -> None:
    assert agents_needed(rate, hours, target, wait) == expected


def _erlang_c_closed_form(a: float, n: int) -> float:
    waiting = a**n / math.factorial(n) * n / (n - a)
    return waiting / (sum(a**k / math.factorial(k) for k in range(n)) + waiting)


@pytest.mark.parametrize(("a", "n"), [(1.5, 2), (1.5, 3), (10.0, 11), (10.0, 14), (57.6, 70)])
def test_erlang_c_matches_closed_form(a: float, n: int) -> None:
    assert erlang_c(a, n) == pytest.approx(_erlang_c_closed_form(a, n), rel=1e-9)


def test_large_traffic_is_stable() -> None:
    n = agents_needed(20000.0, 1.5, 0.8, 2.0)  # 30,000 Erlangs
    assert 30000 < n < 30100
    assert 0.0 <= erlang_c(30000.0, n) <= 1.0
    assert service_level(30000.0, n, 2.0, 1.5) >= 0.8
    assert service_level(30000.0, n - 1, 2.0, 1.5) < 0.8


def test_more_agents_never_hurt() -> None:
    levels = [service_level(10.0, n, WAIT, HANDLE) for n in range(11, 30)]
    assert levels == sorted(levels)
    assert service_level(10.0, 10, WAIT, HANDLE) == 0.0


@pytest.mark.parametrize(
    ("rate", "hours", "target", "wait"),
    [
        (1.0, 1.0, 0.0, 1.0),
        (1.0, 1.0, 1.0, 1.0),
        (1.0, 1.0, 0.8, -1.0),
        (-1.0, 1.0, 0.8, 1.0),
        (1.0, 0.0, 0.8, 1.0),
    ],
)
def test_bad_inputs(rate: float, hours: float, target: float, wait: float) -> None:
    with pytest.raises(ValueError):
        agents_needed(rate, hours, target, wait)


def test_erlang_b_rejects_negative() -> None:
    with pytest.raises(ValueError):
        erlang_b(-1.0, 2)
