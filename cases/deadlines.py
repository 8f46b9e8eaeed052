"""Deadlines shown on a case: met, missed, open, due soon (warning) or overdue (flag).

Deadlines are started and met by procedure steps (``case_deadlines`` rows); this module
only judges them against a day. Warnings count working days; when the holiday data does
not reach the due date the status still says open/overdue by plain dates and
``days_left`` is None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.config import ProcedureConfig
from cases.errors import CalendarError
from cases.models import Case, CaseDeadline
from cases.workdays import WorkCalendar

__all__ = ["DeadlineStatus", "case_deadlines", "judge"]


@dataclass(frozen=True)
class DeadlineStatus:
    """One deadline of a case as it stands on a given day."""

    kind: str
    basis: str
    unit: str
    start_on: date
    due_on: date
    met_on: date | None
    status: str  # met | missed | cancelled | open | warning | overdue
    working_days_left: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    row: CaseDeadline, today: date, calendar: WorkCalendar, config: ProcedureConfig
) -> DeadlineStatus:
    """The status of ``row`` on ``today``."""
    left: int | None = None
    if row.cancelled:
        status = "cancelled"
    elif row.met_on is not None:
        status = "met" if row.met_on <= row.due_on else "missed"
    elif today > row.due_on:
        status = "overdue"
    else:
        try:
            left = calendar.working_days_between(today, row.due_on)
        except CalendarError:
            left = None
        status = "warning" if left is not None and left <= config.warning_working_days else "open"
    return DeadlineStatus(
        kind=row.kind,
        basis=row.basis,
        unit=row.unit,
        start_on=row.start_on,
        due_on=row.due_on,
        met_on=row.met_on,
        status=status,
        working_days_left=left,
    )


def case_deadlines(
    session: Session,
    case: Case,
    today: date,
    calendar: WorkCalendar | None = None,
    config: ProcedureConfig | None = None,
) -> list[DeadlineStatus]:
    """All deadlines of ``case`` judged on ``today``, soonest first."""
    cal = calendar or WorkCalendar()
    cfg = config or ProcedureConfig()
    rows = session.scalars(
        select(CaseDeadline).where(CaseDeadline.case_id == case.id).order_by(CaseDeadline.due_on)
    ).all()
    return [judge(r, today, cal, cfg) for r in rows]
