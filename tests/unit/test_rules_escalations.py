"""Owners and escalations (SPEC §4.11) as pure decisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from workers.rules.escalations import (
    OWNER,
    SUPERVISOR,
    ClockMarks,
    case_owner,
    clock_escalations,
    complaint_escalation_owner,
    default_supervisor,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=CST)


def test_owners() -> None:
    assert case_owner("CS-0012", "PICC") == "CS-0012"
    assert case_owner(None, "PICC") == case_owner("", "PICC") == "desk:PICC"
    assert complaint_escalation_owner(None, "CPIC") == "complaint_desk:CPIC"
    assert complaint_escalation_owner("CS-7", "CPIC") == "CS-7"
    assert default_supervisor("PINGAN") == "supervisor:PINGAN"


def marks(**kw: object) -> ClockMarks:
    base: dict[str, object] = dict(
        subject_type="case", subject_id="C-1", clock="determination", case_id="C-1",
        complaint_id=None, insurer="PICC", due_at=T0 + timedelta(days=30),
        warned_at=T0 + timedelta(days=24), breached_at=None, warn_done=False,
        breach_done=False, owner="CS-0012", supervisor="supervisor:PICC")
    base.update(kw)
    return ClockMarks(**base)  # type: ignore[arg-type]


def test_warning_goes_to_the_owner_at_the_mark_instant() -> None:
    (e,) = clock_escalations(marks())
    assert (e.level, e.to, e.raised_at, e.cause, e.key) == (
        OWNER, "CS-0012", T0 + timedelta(days=24), "determination", "C-1")
    assert "CS-0012" not in e.summary and e.due_at == T0 + timedelta(days=30)


def test_breach_goes_to_the_supervisor_once() -> None:
    m = marks(breached_at=T0 + timedelta(days=30), warn_done=True)
    (e,) = clock_escalations(m)
    assert (e.level, e.to, e.raised_at) == (SUPERVISOR, "supervisor:PICC", T0 + timedelta(days=30))
    assert clock_escalations(marks(breached_at=T0, warn_done=True, breach_done=True)) == []


def test_unknown_owner_waits_but_breach_does_not() -> None:
    assert clock_escalations(marks(owner=None)) == []
    m = marks(owner=None, breached_at=T0 + timedelta(days=30))
    assert [e.level for e in clock_escalations(m)] == [SUPERVISOR]
