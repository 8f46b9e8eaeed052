"""The audit log: size and a full verification, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from cases import audit
from gateway.api.deps import db_session

router = APIRouter(tags=["audit"])


@router.get("/audit/verify", summary="Re-compute the audit log and report whether it verifies")
def verify(session: Session = Depends(db_session)) -> dict[str, Any]:
    report = audit.verify(session)
    return {
        "ok": bool(report.ok),
        "entries": int(report.entries),
        "first_bad_entry": report.first_bad_entry,
        "message": report.message,
    }
