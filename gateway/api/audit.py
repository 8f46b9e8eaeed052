"""The audit log, read-only: verification, signed tree heads, inclusion proofs, the log key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from cases import audit
from cases.audit.errors import AuditError
from gateway.api.deps import ADMIN, LEGAL_REVIEWER, SUPERVISOR, Principal, db_session, require

router = APIRouter(tags=["audit"])

AUDITORS = (ADMIN, SUPERVISOR, LEGAL_REVIEWER, "head")


@router.get("/audit/verify", summary="Re-compute the audit log and report whether it verifies")
def verify(
    user: Principal = Depends(require(*AUDITORS)), session: Session = Depends(db_session)
) -> dict[str, Any]:
    report = audit.verify(session)
    return {
        "ok": bool(report.ok),
        "entries": int(report.entries),
        "first_bad_entry": report.first_bad_entry,
        "message": report.message,
    }


@router.get("/audit/key", summary="The log's Ed25519 public key (verify heads and proofs with it)")
def log_key(request: Request) -> dict[str, Any]:
    key = request.app.state.config.log_key
    if key is None:
        raise HTTPException(503, "the audit log key is not loaded")
    return {"public_key": key.public_key.hex()}


@router.get("/audit/heads/latest", summary="The newest signed tree head")
def latest(
    request: Request,
    user: Principal = Depends(require(*AUDITORS)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    head = audit.latest_head(session)
    if head is None:
        raise HTTPException(404, "no signed tree head issued yet")
    return {**head.to_dict(), "entries": audit.count(session)}


@router.get("/audit/proofs/{index}", summary="Inclusion proof of one entry against a signed head")
def proof(
    request: Request,
    index: int = PathParam(ge=0, le=2**62),
    user: Principal = Depends(require(*AUDITORS)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    from cases.audit.proofs import prove, verify_proof

    key = request.app.state.config.log_key
    if key is None:
        raise HTTPException(503, "the audit log key is not loaded; proofs need signed heads")
    try:
        doc = prove(session, index, key)
        # Check what we hand out against the log's public key before it leaves.
        verify_proof(doc, key.public_key)
    except AuditError as exc:
        session.rollback()
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return doc
