"""Sites: geofenced inspection areas (GeoJSON), listed by department, created by supervisors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.models import Department, SiteRecord
from gateway.api.deps import (
    ADMIN,
    SUPERVISOR,
    Page,
    Principal,
    current_user,
    db_session,
    page,
    paginated,
    require,
)
from gateway.api.scope import scope_sites, visible_site
from missions.errors import MissionsError
from missions.site import site_from_geojson

router = APIRouter(tags=["sites"])


class NewSite(BaseModel):
    geojson: dict[str, Any] = Field(description="Site FeatureCollection (see DESIGN.md)")
    department: str | None = Field(None, max_length=32)


def site_view(site: SiteRecord, with_geometry: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": site.id,
        "name": site.name,
        "department": site.department_id,
        "published_at": site.published_at,
        "published_ref": site.published_ref,
    }
    if with_geometry:
        out["geojson"] = site.geojson
    return out


@router.get("/sites", summary="Sites of the user's department (with their GeoJSON)")
def list_sites(
    request: Request,
    geometry: bool = True,
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    return paginated(
        request,
        session,
        scope_sites(select(SiteRecord), user),
        paging,
        order_by=(SiteRecord.id,),
        render=lambda rows: [site_view(s, geometry) for s in rows],
    )


@router.get("/sites/{site_id}", summary="One site")
def get_site(
    site_id: str = PathParam(max_length=100),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return site_view(visible_site(session, user, site_id))


@router.post("/sites", status_code=201, summary="Add a site from GeoJSON (supervisors, admins)")
def add_site(
    body: NewSite,
    user: Principal = Depends(require(SUPERVISOR, ADMIN)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    try:
        site = site_from_geojson(body.geojson)
    except (MissionsError, ValueError, TypeError, KeyError) as exc:
        raise HTTPException(422, f"geojson: {exc}") from None
    department = body.department if user.all_departments else user.department_id
    if department is not None and session.get(Department, department) is None:
        raise HTTPException(422, f"department {department!r} does not exist")
    if session.get(SiteRecord, site.id) is not None:
        raise HTTPException(409, f"site {site.id!r} exists; give the collection another id")
    row = SiteRecord(
        id=site.id, name=site.name, department_id=department, geojson=site.to_geojson()
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        user.actor,
        "site.created",
        f"site:{site.id}",
        {"name": site.name, "department": department},
    )
    session.commit()
    return site_view(row)
