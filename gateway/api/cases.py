"""Cases: the list (filtered, paginated) and one case with its evidence and steps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Case, CaseEvidence, CaseStep
from gateway.api.deps import Page, db_session, page

router = APIRouter(tags=["cases"])


def case_summary(case: Case, evidence_count: int) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "class_name": case.class_name,
        "state": case.state,
        "procedure": case.procedure,
        "lat": case.lat,
        "lon": case.lon,
        "site_id": case.site_id,
        "opened_at": case.opened_at,
        "evidence_count": evidence_count,
    }


@router.get("/cases", summary="List cases, newest first")
def list_cases(
    state: str | None = Query(None, max_length=32, description="Filter by procedure state."),
    class_name: str | None = Query(None, max_length=64, description="Filter by violation class."),
    site_id: str | None = Query(None, max_length=100, description="Filter by site."),
    paging: Page = Depends(page),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    counts = (
        select(CaseEvidence.case_id, func.count().label("n"))
        .group_by(CaseEvidence.case_id)
        .subquery()
    )
    query = select(Case, func.coalesce(counts.c.n, 0)).outerjoin(
        counts, counts.c.case_id == Case.id
    )
    total_query = select(func.count()).select_from(Case)
    for column, value in (
        (Case.state, state),
        (Case.class_name, class_name),
        (Case.site_id, site_id),
    ):
        if value is not None:
            query = query.where(column == value)
            total_query = total_query.where(column == value)
    rows = session.execute(
        query.order_by(Case.id.desc()).limit(paging.limit).offset(paging.offset)
    ).all()
    return {
        "total": session.execute(total_query).scalar_one(),
        "limit": paging.limit,
        "offset": paging.offset,
        "items": [case_summary(case, int(n)) for case, n in rows],
    }


@router.get("/cases/{case_id}", summary="One case with its evidence and procedure steps")
def get_case(case_id: int, session: Session = Depends(db_session)) -> dict[str, Any]:
    case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} not found")
    evidence_ids = session.execute(
        select(CaseEvidence.evidence_id).where(CaseEvidence.case_id == case_id)
    ).scalars()
    steps = session.execute(
        select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.seq)
    ).scalars()
    ids = list(evidence_ids)
    data = case_summary(case, len(ids))
    data.update(
        {
            "title": case.title,
            "facts": case.facts,
            "evidence_ids": ids,
            "steps": [
                {
                    "seq": step.seq,
                    "step": getattr(step, "step", None),
                    "actor": getattr(step, "actor", None),
                    "taken_at": getattr(step, "taken_at", None),
                    "reason": getattr(step, "reason", None),
                }
                for step in steps
            ],
        }
    )
    return data
