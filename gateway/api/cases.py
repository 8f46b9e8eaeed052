"""Cases: the list (filtered, paginated, ETag), one case with its steps, deadlines, discretion
recommendation and documents; taking a procedural step (through `cases.procedure`), the
documents to open, the audited export, and issuing the party's portal access code."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cases import audit
from cases.deadlines import case_deadlines
from cases.models import Case, CaseEvidence, Document, Evidence, User
from cases.procedure import ACTIONS, available_actions, take_step
from cases.workdays import legal_date
from gateway.api.deps import (
    CASE_ROLES,
    Page,
    Principal,
    current_user,
    db_session,
    equals,
    page,
    paginated,
    require,
)
from gateway.api.scope import scope_cases, visible_case
from gateway.auth.passwords import hash_secret
from gateway.models import PartyAccess, PartySubmission

router = APIRouter(tags=["cases"])


class StepRequest(BaseModel):
    action: str = Field(min_length=1, max_length=48)
    reason: str = Field(min_length=1, max_length=4000)
    data: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(
        None, ge=1, description="the case version you saw; refused if someone acted since"
    )


def case_summary(case: Case, evidence_count: int) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "department": case.department,
        "class_name": case.class_name,
        "state": case.state,
        "procedure": case.procedure,
        "lat": case.lat,
        "lon": case.lon,
        "site_id": case.site_id,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "evidence_count": evidence_count,
    }


@router.get("/cases", summary="List cases of the user's department, newest first")
def list_cases(
    request: Request,
    state: str | None = Query(None, max_length=32, description="Filter by procedure state."),
    class_name: str | None = Query(None, max_length=64, description="Filter by violation class."),
    site_id: str | None = Query(None, max_length=100, description="Filter by site."),
    number: str | None = Query(None, max_length=64, description="Case number starts with."),
    sortie_id: str | None = Query(
        None, max_length=100, description="Cases holding evidence from this sortie."
    ),
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    def render(cases: Sequence[Case]) -> list[dict[str, Any]]:
        counts: dict[int, int] = {}
        if cases:
            counts = dict(
                session.execute(
                    select(CaseEvidence.case_id, func.count())
                    .where(CaseEvidence.case_id.in_([c.id for c in cases]))
                    .group_by(CaseEvidence.case_id)
                ).all()
            )
        return [case_summary(c, counts.get(c.id, 0)) for c in cases]

    return paginated(
        request,
        session,
        scope_cases(select(Case), user),
        paging,
        where=(
            equals(Case.state, state),
            equals(Case.class_name, class_name),
            equals(Case.site_id, site_id),
            Case.number.startswith(number, autoescape=True) if number else None,
            Case.id.in_(
                select(CaseEvidence.case_id)
                .join(Evidence, Evidence.id == CaseEvidence.evidence_id)
                .where(Evidence.sortie_id == sortie_id)
            )
            if sortie_id is not None
            else None,
        ),
        order_by=(Case.id.desc(),),
        render=render,
    )


def _deadlines(session: Session, case: Case) -> list[dict[str, Any]]:
    return [d.to_dict() for d in case_deadlines(session, case, legal_date(datetime.now(UTC)))]


def _documents(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Document).where(Document.case_id == case.id).order_by(Document.id)
    )
    return [
        {
            "id": d.id,
            "kind": d.kind,
            "number": d.number,
            "title": d.title,
            "step_id": d.step_id,
            "created_at": d.created_at,
            "pdf": d.pdf_path is not None,
            "docx": d.docx_path is not None,
            "pdf_sha256": d.pdf_sha256,
        }
        for d in rows
    ]


def case_detail(session: Session, case: Case, user: Principal) -> dict[str, Any]:
    ids = list(
        session.scalars(select(CaseEvidence.evidence_id).where(CaseEvidence.case_id == case.id))
    )
    actor = session.get(User, user.id)
    data = case_summary(case, len(ids))
    party = case.party
    data.update(
        {
            "title": case.title,
            "facts": case.facts,
            "facts_json": case.facts_json,
            "version": case.version,
            "violation_code": case.violation_code,
            "proposed_penalty": case.proposed_penalty,
            "decided_penalty": case.decided_penalty,
            "outcome": case.outcome,
            "discretion": case.discretion,
            "party": None if party is None else {"kind": party.kind, "name": party.name},
            "evidence_ids": ids,
            "steps": [
                {
                    "seq": step.seq,
                    "action": step.action,
                    "label": ACTIONS[step.action].title if step.action in ACTIONS else "",
                    "from_state": step.from_state,
                    "to_state": step.to_state,
                    "actor": step.actor_name,
                    "actor_role": step.actor_role,
                    "taken_at": step.taken_at,
                    "reason": step.reason,
                }
                for step in case.steps
            ],
            "available_actions": [
                {"action": a, "label": ACTIONS[a].title} for a in available_actions(case, actor)
            ],
            "deadlines": _deadlines(session, case),
            "documents": _documents(session, case),
            "party_submissions": [
                {"kind": s.kind, "text": s.text, "received_at": s.received_at}
                for s in session.scalars(
                    select(PartySubmission)
                    .where(PartySubmission.case_id == case.id)
                    .order_by(PartySubmission.id)
                )
            ],
        }
    )
    return data


@router.get("/cases/{ref}", summary="One case (by id or number) with steps, deadlines, documents")
def get_case(
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return case_detail(session, visible_case(session, user, ref), user)


@router.post("/cases/{ref}/steps", status_code=201, summary="Take one procedural step")
def step(
    request: Request,
    body: StepRequest,
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(require(*CASE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    case = visible_case(session, user, ref)
    if body.expected_version is not None and body.expected_version != case.version:
        raise HTTPException(
            409, f"case {case.number} changed (version {case.version}); reload and try again"
        )
    config = request.app.state.config
    try:
        taken = take_step(
            session,
            case,
            body.action,
            user.id,
            body.reason,
            data=body.data,
            documents_dir=Path(config.data_dir) / "documents",
        )
        session.commit()
    except StaleDataError:
        session.rollback()
        raise HTTPException(409, f"case {ref} was changed by someone else; reload") from None
    except Exception:
        session.rollback()
        raise
    if case.state == "decided":
        request.app.state.notifier.notify(
            "case.decided",
            {"case": case.number, "penalty": case.decided_penalty, "outcome": case.outcome},
            case.department,
        )
    return {
        "seq": taken.seq,
        "action": taken.action,
        "from_state": taken.from_state,
        "to_state": taken.to_state,
        "case": case_detail(session, case, user),
    }


@router.get("/cases/{ref}/deadlines", summary="Deadlines of a case as they stand today")
def deadlines(
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    case = visible_case(session, user, ref)
    return {"case": case.number, "items": _deadlines(session, case)}


@router.get("/cases/{ref}/documents", summary="Documents of a case")
def documents(
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    case = visible_case(session, user, ref)
    return {"case": case.number, "items": _documents(session, case)}


@router.get(
    "/documents/{document_id}/{fmt}",
    summary="Open a document as PDF or DOCX",
    response_class=FileResponse,
)
def open_document(
    request: Request,
    document_id: int = PathParam(ge=1, le=2**31 - 1),
    fmt: str = PathParam(pattern="^(pdf|docx)$"),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> FileResponse:
    doc = session.get(Document, document_id)
    if doc is None or not user.may_see(doc.department):
        raise HTTPException(404, f"document {document_id} not found")
    stored = doc.pdf_path if fmt == "pdf" else doc.docx_path
    if not stored:
        raise HTTPException(404, f"document {document_id} has no {fmt} file")
    path = Path(stored)
    if not path.is_absolute():
        path = Path(request.app.state.config.data_dir) / path
    if not path.is_file():
        raise HTTPException(404, f"document {document_id}: its {fmt} file is missing")
    media = (
        "application/pdf"
        if fmt == "pdf"
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    return FileResponse(path, media_type=media, filename=f"{doc.number}.{fmt}")


@router.post(
    "/cases/{ref}/export",
    summary="Export the case file (zip with evidence, documents, audit proofs); audited",
    response_class=FileResponse,
)
def export(
    request: Request,
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(require(*CASE_ROLES)),
    session: Session = Depends(db_session),
) -> FileResponse:
    from cases.audit.export import export_case

    config = request.app.state.config
    if config.log_key is None:
        raise HTTPException(503, "the audit log key is not loaded; exports need it")
    case = visible_case(session, user, ref)
    out = Path(config.data_dir) / "exports" / f"{case.number}-{secrets.token_hex(4)}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    export_case(
        session,
        case.id,
        out,
        config.log_key,
        config.media_dir,
        files_root=config.data_dir,
        actor=user.actor,
    )
    session.commit()
    return FileResponse(out, media_type="application/zip", filename=f"{case.number}.zip")


@router.post(
    "/cases/{ref}/party-access",
    status_code=201,
    summary="Issue (or replace) the party's portal access code; shown once",
)
def party_access(
    ref: str = PathParam(max_length=64),
    user: Principal = Depends(require(*CASE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    case = visible_case(session, user, ref)
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    row = session.get(PartyAccess, case.id)
    if row is None:
        session.add(PartyAccess(case_id=case.id, code_hash=hash_secret(code)))
    else:
        row.code_hash = hash_secret(code)
    audit.append(session, user.actor, "party_access.issued", f"case:{case.number}", {})
    session.commit()
    return {"case": case.number, "access_code": code}
