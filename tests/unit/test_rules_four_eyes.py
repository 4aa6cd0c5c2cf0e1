"""The four-eyes rule (SPEC §4.3, v2): 复核 and 会审 are another person's."""

from __future__ import annotations

import pytest

from workers.rules.four_eyes import PriorDecision, four_eyes_refusal

INITIAL_OK = PriorDecision("initial", "approved", "A")
INITIAL_ESC = PriorDecision("initial", "escalated", "A")
SECOND_OK = PriorDecision("second", "approved", "B")
SECOND_ESC = PriorDecision("second", "escalated", "B")


@pytest.mark.parametrize(
    ("stage", "reviewer", "prior", "refused"),
    [
        ("second", "A", [INITIAL_OK], True),
        ("second", "B", [INITIAL_OK], False),
        ("second", "A", [INITIAL_ESC], False),  # escalated initial goes to joint, not second
        ("joint", "A", [INITIAL_OK, SECOND_OK], True),
        ("joint", "B", [INITIAL_OK, SECOND_OK], True),
        ("joint", "A", [INITIAL_ESC], True),
        ("joint", "B", [SECOND_ESC], True),
        ("joint", "C", [INITIAL_OK, SECOND_ESC], False),
        ("joint", "A", [PriorDecision("initial", "documents_requested", "A")], False),
        ("initial", "A", [INITIAL_OK], False),  # only second and joint are checked
        ("survey", "A", [INITIAL_OK], False),
        ("second", "A", [], False),
    ],
)
def test_four_eyes(stage: str, reviewer: str, prior: list[PriorDecision], refused: bool) -> None:
    detail = four_eyes_refusal(stage, reviewer, prior)
    assert (detail is not None) is refused
    if detail is not None:
        assert reviewer not in detail  # detail names roles, not people
