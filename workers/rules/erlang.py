"""Erlang C queueing formulas for staffing advice (SPEC §4.5).

Traffic A (Erlangs) = arrival rate × mean service time. Erlang C is computed
from the Erlang B recursion ``B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1))``,
which stays within [0, 1] and never overflows, even for thousands of agents.
These are advisory numbers, so they use floats (not money).
"""

from __future__ import annotations

import math


def traffic(arrival_rate_per_hour: float, mean_service_hours: float) -> float:
    """Offered load in Erlangs."""
    if arrival_rate_per_hour < 0 or mean_service_hours <= 0:
        raise ValueError("arrival rate must be >= 0 and mean service time > 0")
    return arrival_rate_per_hour * mean_service_hours


def erlang_b(traffic_erlangs: float, agents: int) -> float:
    """Blocking probability with ``agents`` servers (iterative, numerically stable)."""
    if traffic_erlangs < 0 or agents < 0:
        raise ValueError("traffic and agents must be >= 0")
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic_erlangs * blocking / (n + traffic_erlangs * blocking)
    return blocking


def erlang_c(traffic_erlangs: float, agents: int) -> float:
    """Probability that an arrival waits; 1.0 when ``agents <= traffic`` (unstable queue)."""
    if agents <= traffic_erlangs:
        return 1.0
    blocking = erlang_b(traffic_erlangs, agents)
    return agents * blocking / (agents - traffic_erlangs * (1.0 - blocking))


def service_level(
    traffic_erlangs: float, agents: int, target_wait_hours: float, mean_service_hours: float
) -> float:
    """Fraction of arrivals that start service within ``target_wait_hours``."""
    if agents <= traffic_erlangs:
        return 0.0
    wait = erlang_c(traffic_erlangs, agents)
    decay = math.exp(-(agents - traffic_erlangs) * target_wait_hours / mean_service_hours)
    return 1.0 - wait * decay


def agents_needed(
    arrival_rate_per_hour: float,
    mean_service_hours: float,
    target_fraction: float,
    target_wait_hours: float,
) -> int:
    """Smallest number of agents reaching ``target_fraction`` within ``target_wait_hours``.

    Zero arrivals need zero agents. Raises ``ValueError`` unless
    ``0 < target_fraction < 1`` and ``target_wait_hours >= 0``.
    """
    if not 0 < target_fraction < 1 or target_wait_hours < 0:
        raise ValueError("target fraction must be in (0, 1) and target wait >= 0")
    load = traffic(arrival_rate_per_hour, mean_service_hours)
    if load == 0:
        return 0
    agents = math.floor(load) + 1
    while service_level(load, agents, target_wait_hours, mean_service_hours) < target_fraction:
        agents += 1
    return agents
