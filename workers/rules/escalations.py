"""Owners and escalations (SPEC §4.11, 首问负责制), as pure decisions.

Who owns what: a case's owner is who took the report (``received_by``), else the
insurer's desk; a complaint's escalations go to who took it, else the complaint desk —
never to the adjuster complained about (回避, §4.7); callback clocks belong to the
supervisor. The supervisor of an insurer comes from the policy (``escalation.supervisor``,
default ``supervisor:<insurer>``).

For each SLA mark that is set, one escalation: ``owner`` level at the warning mark,
``supervisor`` level at the breach mark, raised at the mark's own instant (data time), so
a replay raises the same escalations. Each (subject, cause, level) escalates once, ever:
the id is derived from exactly those (``schemas.escalation_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OWNER = "owner"
SUPERVISOR = "supervisor"
DISSATISFIED = "dissatisfied"
REPORT = "report"
PAYMENT_FAILED = "payment_failed"


def case_owner(received_by: str | None, insurer: str) -> str:
    """``received_by`` (首问负责人), else ``desk:<insurer>``."""
    return received_by if received_by else f"desk:{insurer}"


def complaint_escalation_owner(received_by: str | None, insurer: str) -> str:
    """Who hears about a late complaint: ``received_by``, else ``complaint_desk:<insurer>``."""
    return received_by if received_by else f"complaint_desk:{insurer}"


def default_supervisor(insurer: str) -> str:
    """The SPEC default of ``escalation.supervisor``."""
    return f"supervisor:{insurer}"


@dataclass(frozen=True)
class ClockMarks:
    """A clock with at least one mark set, and who its escalations go to.

    ``owner`` is None while the subject's owner is unknown (a survey clock whose case has
    not arrived): its owner-level escalation waits (its time still comes from the mark).
    """

    subject_type: str
    subject_id: str
    clock: str
    case_id: str | None
    complaint_id: str | None
    insurer: str | None
    due_at: datetime
    warned_at: datetime | None
    breached_at: datetime | None
    warn_done: bool
    breach_done: bool
    owner: str | None
    supervisor: str


@dataclass(frozen=True)
class Escalation:
    """One ``escalation.raised`` (no PII anywhere)."""

    subject_type: str
    subject_id: str
    case_id: str | None
    complaint_id: str | None
    cause: str
    level: str
    to: str
    raised_at: datetime
    due_at: datetime | None
    summary: str
    insurer: str | None = None

    @property
    def key(self) -> str:
        """Kafka key: ``case_id``, else ``complaint_id``, else the subject id."""
        return self.case_id or self.complaint_id or self.subject_id


def clock_escalations(m: ClockMarks) -> list[Escalation]:
    """Escalations still to raise for the marks of ``m`` (those not raised before)."""
    out = []
    if m.warned_at is not None and not m.warn_done and m.owner is not None:
        out.append(_clock_escalation(m, OWNER, m.owner, m.warned_at, "reached 80 %"))
    if m.breached_at is not None and not m.breach_done:
        out.append(_clock_escalation(m, SUPERVISOR, m.supervisor, m.breached_at, "breached"))
    return out


def _clock_escalation(m: ClockMarks, level: str, to: str, at: datetime,
                      what: str) -> Escalation:
    summary = (f"{m.clock} clock of {m.subject_type} {m.subject_id} {what}"
               f" (due {m.due_at.isoformat()})")
    return Escalation(m.subject_type, m.subject_id, m.case_id, m.complaint_id, m.clock, level,
                      to, at, m.due_at, summary, m.insurer)
