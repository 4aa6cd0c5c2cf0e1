"""The staffing advice reproduced by hand (README "Staffing advice, by hand") and the contract
sample's 578 (SPEC §4.5: 80 % of surveys start within 2 h, Erlang C)."""

from __future__ import annotations

import math

import pytest

from workers.ops_panels.html import staffing_inputs
from workers.rules.erlang import agents_needed, erlang_b, erlang_c, service_level
from workers.rules.policy import Policy
from workers.rules.surge import staffing_advice


def test_the_readme_example_by_hand() -> None:
    # 2 cases in a 10-minute window → 12 cases/h; mean survey 0.25 h → A = 3 Erlangs.
    advice = staffing_advice(2, 0.25, Policy())
    assert (advice.arrival_rate_per_hour, advice.mean_survey_hours) == (12.0, 0.25)
    a = 12.0 * 0.25
    # Erlang B recursion B(n) = A·B(n-1) / (n + A·B(n-1)), B(0) = 1
    assert [round(erlang_b(a, n), 4) for n in (1, 2, 3, 4)] == [0.75, 0.5294, 0.3462, 0.2061]
    # Erlang C(4) = 4·B / (4 − A·(1 − B)) = 0.5094; 3 adjusters ≤ A: the queue never drains
    assert erlang_c(a, 4) == pytest.approx(0.5094, abs=1e-4)
    assert service_level(a, 3, 2.0, 0.25) == 0.0
    # P(wait ≤ 2 h) = 1 − C·e^{−(N − A)·t/h} = 1 − 0.5094·e^{−1·2/0.25} ≈ 0.99983 ≥ 0.8
    assert service_level(a, 4, 2.0, 0.25) == pytest.approx(1 - 0.5094 * math.exp(-8), abs=1e-4)
    assert advice.adjusters_needed == 4


def test_the_contract_sample_needs_578_not_14() -> None:
    # 64 cases in 10 min = 384 cases/h × 1.5 h = 576 Erlangs: 576 adjusters are busy on
    # average, so any answer ≤ 576 is an unstable queue. 14 was the textbook call-centre
    # example (200 calls/h × 3 min, 80 % within 20 s), not this alert's inputs.
    assert staffing_advice(64, 1.5, Policy()).adjusters_needed == 578
    assert service_level(576.0, 577, 2.0, 1.5) < 0.8 <= service_level(576.0, 578, 2.0, 1.5)
    assert agents_needed(200.0, 3 / 60, 0.8, 20 / 3600) == 14


def test_the_ops_page_shows_the_inputs_next_to_the_number() -> None:
    staffing = {"adjusters_needed": 578, "arrival_rate_per_hour": 384.0,
                "mean_survey_hours": 1.5, "target": "80% of surveys start within 2 h"}
    assert staffing_inputs(staffing) == (
        "384.0 cases/h × 1.5 h mean survey = 576.0 Erlangs; 80% of surveys start within 2 h")
    assert staffing_inputs(None) == ""
