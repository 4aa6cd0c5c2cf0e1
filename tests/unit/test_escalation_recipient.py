"""Escalation recipients built from free-form insurer codes stay valid contract ids."""

from __future__ import annotations

from schemas import EscalationRaised
from workers.escalations import recipient_id


def test_whitespace_and_control_characters_become_underscores() -> None:
    assert recipient_id("desk:PICC") == "desk:PICC"
    assert recipient_id("supervisor:中国 人保\t\n") == "supervisor:中国_人保_"
    assert recipient_id("x" * 300) == "x" * 128
    fields = EscalationRaised.model_fields["to"]
    assert fields is not None  # the field recipient_id feeds (RefId pattern)
