"""Evidence: the list (filtered, paginated), one item, and its media blobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Evidence, EvidenceMedia, Media
from gateway.api.deps import (
    Page,
    Principal,
    current_user,
    db_session,
    equals,
    page,
    paginated,
)
from gateway.api.scope import scope_evidence, scope_evidence_list

router = APIRouter(tags=["evidence"])


def evidence_summary(item: Evidence, media: list[str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "vehicle_id": item.vehicle_id,
        "site_id": item.site_id,
        "mission_id": item.mission_id,
        "sortie_id": item.sortie_id,
        "captured_at": item.captured_at,
        "lat": item.lat,
        "lon": item.lon,
        "alt_agl_m": item.alt_agl_m,
        "class_name": item.class_name,
        "confidence": item.confidence,
        "box_px": item.box_px,
        "footprint": item.footprint,
        "art41_review": item.art41_review,
        "media": media,
    }


@router.get("/evidence", summary="List evidence of the user's department, newest first")
def list_evidence(
    request: Request,
    class_name: str | None = Query(None, max_length=64),
    sortie_id: str | None = Query(None, max_length=100),
    site_id: str | None = Query(None, max_length=100),
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    def render(items: Sequence[Evidence]) -> list[dict[str, Any]]:
        media: dict[str, list[str]] = {item.id: [] for item in items}
        if items:
            for link in session.scalars(
                select(EvidenceMedia)
                .where(EvidenceMedia.evidence_id.in_(list(media)))
                .order_by(EvidenceMedia.position)
            ):
                media[link.evidence_id].append(link.sha256)
        return [evidence_summary(item, media[item.id]) for item in items]

    return paginated(
        request,
        session,
        scope_evidence_list(select(Evidence), user, session),
        paging,
        where=(
            equals(Evidence.class_name, class_name),
            equals(Evidence.sortie_id, sortie_id),
            equals(Evidence.site_id, site_id),
        ),
        order_by=(Evidence.captured_at.desc(), Evidence.id.desc()),
        render=render,
    )


@router.get("/evidence/{evidence_id}", summary="One evidence item")
def get_evidence(
    evidence_id: str = PathParam(max_length=100),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    item = session.scalar(scope_evidence(select(Evidence).where(Evidence.id == evidence_id), user))
    if item is None:
        raise HTTPException(404, f"evidence {evidence_id} not found")
    media = [link.sha256 for link in item.media]
    return evidence_summary(item, media)


@router.get(
    "/media/{sha256}",
    summary="A media blob by its sha256",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def get_media(
    request: Request,
    sha256: str = PathParam(pattern=r"^[0-9a-f]{64}$"),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> FileResponse:
    media = session.get(Media, sha256)
    linked = scope_evidence(
        select(EvidenceMedia.evidence_id)
        .join(Evidence, Evidence.id == EvidenceMedia.evidence_id)
        .where(EvidenceMedia.sha256 == sha256)
        .limit(1),
        user,
    )
    # Media of another department's evidence (or of no evidence) stays hidden, except to admins.
    if media is not None and not user.all_departments and session.scalar(linked) is None:
        media = None
    if media is None:
        raise HTTPException(404, f"media {sha256} not found")
    path = Path(media.path)
    if not path.is_absolute():
        path = Path(request.app.state.config.media_dir) / path
    if not path.is_file():
        raise HTTPException(404, f"media {sha256} is recorded but its file is missing")
    return FileResponse(path, media_type=media.content_type)
