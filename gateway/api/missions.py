"""Missions: plan (survey, perimeter, point inspection) over a site through `missions`, check
against the fence, export as QGC `.plan`, `.waypoints` or GeoJSON track, and launch a sortie."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.models import MissionRecord, SiteRecord
from gateway.api.deps import (
    FLIGHT_ROLES,
    Page,
    Principal,
    current_user,
    db_session,
    equals,
    page,
    paginated,
    require,
)
from gateway.api.scope import scope_missions, visible_mission, visible_site
from missions.camera import CameraModel
from missions.check import check_mission
from missions.errors import MissionsError
from missions.formats import MissionFile, dumps_mission
from missions.items import MissionItem
from missions.plan import MissionPlan
from missions.site import Site, site_from_geojson

router = APIRouter(tags=["missions"])


class PlanRequest(BaseModel):
    site_id: str = Field(max_length=100)
    pattern: Literal["survey", "perimeter", "point"] = "survey"
    vehicle: Literal["copter", "rover"] = "copter"
    altitude_agl_m: float = Field(50.0, ge=2.0, le=500.0)
    speed_m_s: float | None = Field(None, gt=0.0, le=40.0)
    target: tuple[float, float] | None = Field(
        None, description="point inspection: (lon, lat) of the place to look at"
    )


def load_site(row: SiteRecord) -> Site:
    try:
        return site_from_geojson(row.geojson)
    except (MissionsError, ValueError) as exc:
        raise HTTPException(422, f"site {row.id}: stored GeoJSON is invalid ({exc})") from None


def make_plan(site: Site, body: PlanRequest) -> MissionPlan:
    """Plan with `missions`; user errors become 422 with the planner's message."""
    from missions.patterns import plan_perimeter, plan_point
    from missions.survey import plan_survey

    try:
        if body.pattern == "survey":
            if body.vehicle != "copter":
                raise HTTPException(422, "pattern survey: only a copter surveys; use perimeter")
            return plan_survey(
                site,
                CameraModel.default(),
                altitude_agl_m=body.altitude_agl_m,
                speed_m_s=body.speed_m_s or 10.0,
            )
        if body.pattern == "perimeter":
            return plan_perimeter(
                site, body.vehicle, altitude_agl_m=body.altitude_agl_m, speed_m_s=body.speed_m_s
            )
        if body.target is None:
            raise HTTPException(422, "target: a point inspection needs (lon, lat)")
        from shapely.geometry import Point

        if not site.keep_in.contains(Point(body.target)):
            raise HTTPException(
                422, f"target {list(body.target)} lies outside site {site.id}; pick a point inside"
            )
        return plan_point(
            site,
            body.target,
            body.vehicle,
            altitude_agl_m=body.altitude_agl_m,
            speed_m_s=body.speed_m_s,
        )
    except (MissionsError, ValueError) as exc:
        raise HTTPException(422, f"plan: {exc}") from None


def plan_digest(summary: dict[str, Any]) -> str:
    """What a launch confirmation must quote: the hash of the checked plan's figures."""
    text = json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_json(plan: MissionPlan, summary: dict[str, Any]) -> dict[str, Any]:
    """The `plan` column of a mission row: checked figures, their digest, path and items."""
    return {
        "summary": summary,
        "digest": plan_digest(summary),
        "path_lonlat": [list(p) for p in plan.path_lonlat],
        "items": [asdict(i) for i in plan.items],
        "fence": [asdict(i) for i in plan.fence],
        "rally": [asdict(i) for i in plan.rally],
    }


def store_plan(
    session: Session, site: Site, plan: MissionPlan, kind: str, actor: str
) -> MissionRecord:
    """Check ``plan`` against the site, store it as a mission and audit it (flushes)."""
    report = check_mission(site, plan.items, vehicle=plan.vehicle)
    summary = plan.summary()
    summary["valid"] = report.ok
    summary["problems"] = list(report.problems)
    mission = MissionRecord(
        id=f"m-{uuid.uuid4().hex[:12]}",
        site_id=site.id,
        kind=kind,
        vehicle=plan.vehicle,
        plan=plan_json(plan, summary),
        created_by=actor,
    )
    session.add(mission)
    session.flush()
    audit.append(
        session,
        actor,
        "mission.planned",
        f"mission:{mission.id}",
        {"site": site.id, "pattern": kind, "valid": report.ok, "digest": mission.plan["digest"]},
    )
    return mission


def mission_view(m: MissionRecord, full: bool = False) -> dict[str, Any]:
    plan = m.plan or {}
    out: dict[str, Any] = {
        "id": m.id,
        "site_id": m.site_id,
        "kind": m.kind,
        "vehicle": m.vehicle,
        "created_by": m.created_by,
        "created_at": m.created_at,
        "summary": plan.get("summary"),
        "digest": plan.get("digest"),
    }
    if full:
        out["path_lonlat"] = plan.get("path_lonlat", [])
        out["items"] = plan.get("items", [])
    return out


def _items(raw: list[dict[str, Any]]) -> list[MissionItem]:
    return [MissionItem(**item) for item in raw]


@router.post("/missions/plan", status_code=201, summary="Plan a mission over a site and check it")
def plan_mission(
    body: PlanRequest,
    user: Principal = Depends(require(*FLIGHT_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    row = visible_site(session, user, body.site_id)
    site = load_site(row)
    plan = make_plan(site, body)
    mission = store_plan(session, site, plan, body.pattern, user.actor)
    session.commit()
    return mission_view(mission, full=True)


@router.get("/missions", summary="Missions of the user's department, newest first")
def list_missions(
    request: Request,
    site_id: str | None = Query(None, max_length=100),
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    return paginated(
        request,
        session,
        scope_missions(select(MissionRecord), user),
        paging,
        where=(equals(MissionRecord.site_id, site_id),),
        order_by=(MissionRecord.created_at.desc(), MissionRecord.id),
        render=lambda rows: [mission_view(m) for m in rows],
    )


@router.get("/missions/{mission_id}", summary="One mission with its path and items")
def get_mission(
    mission_id: str = PathParam(max_length=100),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return mission_view(visible_mission(session, user, mission_id), full=True)


@router.post("/missions/{mission_id}/validate", summary="Check a stored mission against its site")
def validate_mission(
    mission_id: str = PathParam(max_length=100),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    mission = visible_mission(session, user, mission_id)
    if mission.site_id is None:
        raise HTTPException(422, f"mission {mission_id} has no site to check against")
    site = load_site(visible_site(session, user, mission.site_id))
    report = check_mission(site, _items(mission.plan.get("items", [])), vehicle=mission.vehicle)
    return report.to_dict()


EXPORT_FORMATS = {
    "plan": ("qgc", "application/json"),
    "waypoints": ("wpl", "text/plain"),
    "geojson": ("track", "application/geo+json"),
}


@router.get(
    "/missions/{mission_id}/export", summary="The mission as a file (.plan, .waypoints, .geojson)"
)
def export_mission(
    mission_id: str = PathParam(max_length=100),
    format: Literal["plan", "waypoints", "geojson"] = "plan",
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    mission = visible_mission(session, user, mission_id)
    plan = mission.plan or {}
    kind, media_type = EXPORT_FORMATS[format]
    mf = MissionFile(
        items=_items(plan.get("items", [])),
        fence=_items(plan.get("fence", [])),
        rally=_items(plan.get("rally", [])),
        vehicle=mission.vehicle,
    )
    path = [tuple(p) for p in plan.get("path_lonlat", [])]
    text = dumps_mission(mf, kind, path or None)
    headers = {"Content-Disposition": f'attachment; filename="{mission.id}.{format}"'}
    return Response(text, media_type=media_type, headers=headers)
