"""Reports: the monthly enforcement report (per department) and the disclosure rate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.orm import Session

from cases.disclosure import disclosure_rate
from cases.report import monthly_report, parse_month
from cases.workdays import WorkCalendar, legal_date
from gateway.api.deps import ADMIN, SUPERVISOR, Principal, db_session, require

router = APIRouter(tags=["reports"])


@router.get("/reports/monthly", summary="Monthly report (supervisors: their department)")
def monthly(
    month: str = Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM"),
    user: Principal = Depends(require(SUPERVISOR, ADMIN, "head")),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    try:
        year, mon = parse_month(month)
        date(year, mon, 1)
    except ValueError as exc:
        raise HTTPException(422, f"month: {exc}") from None
    report = monthly_report(session, month, WorkCalendar()).to_dict()
    if not user.all_departments:
        report["departments"] = [
            r for r in report["departments"] if r.get("department") == user.department_id
        ]
    return report


@router.get("/reports/disclosure-rate", summary="Share of decisions disclosed on time")
def rate(
    start: date = Query(description="first day (YYYY-MM-DD)"),
    end: date = Query(description="last day (YYYY-MM-DD)"),
    user: Principal = Depends(require(SUPERVISOR, ADMIN, "head")),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    if end < start or (end - start).days > 3660:
        raise HTTPException(422, "end must follow start, within ten years")
    return disclosure_rate(session, start, end, legal_date(datetime.now(UTC)))
