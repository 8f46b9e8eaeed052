"""Sorties and vehicles: launch a checked mission (with the confirmation of its plan), abort,
live state; the enrolled vehicles with their last known position and status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.models import Device, MissionRecord, SiteRecord, Sortie, utcnow
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
from gateway.api.scope import visible_mission, visible_site_ids

log = logging.getLogger(__name__)
router = APIRouter(tags=["sorties"])

ACTIVE = ("launching", "flying")


class LaunchRequest(BaseModel):
    vehicle_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    confirm_digest: str = Field(
        min_length=1,
        max_length=64,
        description="the mission's `digest`: confirms the user saw this checked plan",
    )


def sortie_view(
    row: Sortie, live: dict[str, Any] | None = None, reports: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "mission_id": row.mission_id,
        "vehicle_id": row.vehicle_id,
        "status": row.status,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "distance_m": row.distance_m,
        "photos": row.photos,
        "live": live,
        "reports": reports or [],
    }


def _reports(request: Request, sortie_id: str) -> list[str]:
    """The formats of the sortie's mission report that exist (the console links only those)."""
    folder = Path(request.app.state.config.data_dir) / "reports" / sortie_id
    return [fmt for fmt in ("html", "pdf") if (folder / f"report.{fmt}").is_file()]


def _scope(query: Any, user: Principal) -> Any:
    if user.all_departments:
        return query
    missions = select(MissionRecord.id).where(MissionRecord.site_id.in_(visible_site_ids(user)))
    return query.where(Sortie.mission_id.in_(missions))


FINAL = ("completed", "aborted", "lost", "failed")


def _finish(
    app: Any, request: dict[str, Any], status: str, outcome: dict[str, Any], recorded: bool
) -> None:
    """Record the sortie's end, unless a recording launcher already did."""
    sortie_id = request["sortie_id"]
    with app.state.sessions() as session:
        row = session.get(Sortie, sortie_id)
        if recorded:
            if row is not None and row.status in FINAL:
                return
            # The launcher failed before it could record the end (or even the sortie).
            if row is None:
                row = Sortie(
                    id=sortie_id, mission_id=request["mission_id"], vehicle_id=request["vehicle_id"]
                )
                session.add(row)
        elif row is None:
            return
        row.status = status
        row.ended_at = utcnow()
        if isinstance(outcome.get("distance_m"), int | float):
            row.distance_m = float(outcome["distance_m"])
        if isinstance(outcome.get("photos"), int):
            row.photos = outcome["photos"]
        audit.append(
            session,
            "system:gateway",
            f"sortie.{status}",
            f"sortie:{sortie_id}",
            {k: v for k, v in outcome.items() if isinstance(v, str | int | float | bool)},
        )
        session.commit()


async def _fly(app: Any, request: dict[str, Any]) -> None:
    sortie_id = request["sortie_id"]
    state = app.state.sorties[sortie_id]
    hub = app.state.hub

    def report(view: dict[str, Any]) -> None:
        view = {**view, "sortie_id": sortie_id, "site_id": request["site_id"]}
        if view.get("kind") == "position":
            state["position"] = view
        elif view.get("kind") in ("progress", "fence"):
            state["last_event"] = view
        hub.publish(view)

    launcher = app.state.config.launcher
    # A launcher that keeps the sortie's record itself (the `sorties` row through its
    # statuses, with audit entries: patrol's sortie engine does) is not written over.
    recorded = bool(getattr(launcher, "records_sortie", False))
    status, outcome = "failed", {}
    try:
        report({"kind": "progress", "event": "launching", "vehicle_id": request["vehicle_id"]})
        if recorded:
            state["status"] = "flying"
        else:
            await asyncio.to_thread(_set_status, app, sortie_id, "flying")
        outcome = await launcher(request, report)
        status = str(outcome.get("status", "completed"))
    except asyncio.CancelledError:
        status, outcome = "aborted", {"reason": "aborted by a user"}
    except Exception as exc:  # a launcher failure ends this sortie, not the gateway
        log.warning("sortie %s failed: %s", sortie_id, exc)
        outcome = {"error": str(exc)[:500]}
    finally:
        state["status"] = status
        await asyncio.to_thread(_finish, app, request, status, outcome, recorded)
        report(
            {
                "kind": "progress",
                "event": f"sortie_{status}",
                "vehicle_id": request["vehicle_id"],
                "detail": {
                    k: v for k, v in outcome.items() if isinstance(v, str | int | float | bool)
                },
            }
        )


def _set_status(app: Any, sortie_id: str, status: str) -> None:
    with app.state.sessions() as session:
        row = session.get(Sortie, sortie_id)
        if row is not None:
            row.status = status
            if status == "flying":
                row.started_at = utcnow()
            session.commit()
    app.state.sorties[sortie_id]["status"] = status


@router.post(
    "/missions/{mission_id}/launch",
    status_code=202,
    summary="Launch a sortie of a checked mission (quote the plan's digest to confirm it)",
)
async def launch(
    request: Request,
    body: LaunchRequest,
    mission_id: str = PathParam(max_length=100),
    user: Principal = Depends(require(*FLIGHT_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    app = request.app
    if app.state.config.launcher is None:
        raise HTTPException(503, "no vehicle launcher configured (serve with --simulate)")
    mission = visible_mission(session, user, mission_id)
    plan = mission.plan or {}
    summary = plan.get("summary") or {}
    if not summary.get("valid"):
        raise HTTPException(
            409, f"mission {mission_id} failed its check: {summary.get('problems')}; re-plan it"
        )
    if body.confirm_digest != plan.get("digest"):
        raise HTTPException(
            409, "confirm_digest does not match the mission's checked plan; review it again"
        )
    busy = [
        s
        for s in app.state.sorties.values()
        if s["vehicle_id"] == body.vehicle_id and s["status"] in ACTIVE
    ]
    if busy:
        raise HTTPException(409, f"vehicle {body.vehicle_id} is already flying a sortie")
    site = session.get(SiteRecord, mission.site_id) if mission.site_id else None
    sortie_id = f"s-{uuid.uuid4().hex[:12]}"
    session.add(
        Sortie(id=sortie_id, mission_id=mission.id, vehicle_id=body.vehicle_id, status="launching")
    )
    audit.append(
        session,
        user.actor,
        "sortie.launch",
        f"sortie:{sortie_id}",
        {
            "mission": mission.id,
            "vehicle_id": body.vehicle_id,
            "digest": plan.get("digest"),
            "estimates": {k: summary.get(k) for k in ("distance_m", "duration_s", "photos")},
        },
    )
    session.commit()
    job = {
        "sortie_id": sortie_id,
        "mission_id": mission.id,
        "site_id": mission.site_id or "",
        "vehicle_id": body.vehicle_id,
        "vehicle": mission.vehicle,
        "items": plan.get("items", []),
        "fence": plan.get("fence", []),
        "rally": plan.get("rally", []),
        "summary": summary,
        "path_lonlat": plan.get("path_lonlat", []),
        "site_geojson": site.geojson if site is not None else None,
    }
    app.state.sorties[sortie_id] = {
        "vehicle_id": body.vehicle_id,
        "status": "launching",
        "position": None,
        "last_event": None,
        "task": None,
    }
    app.state.sorties[sortie_id]["task"] = asyncio.create_task(_fly(app, job))
    return {"sortie_id": sortie_id, "status": "launching"}


@router.post("/sorties/{sortie_id}/abort", summary="Abort a sortie in flight")
async def abort(
    request: Request,
    sortie_id: str = PathParam(max_length=100),
    user: Principal = Depends(require(*FLIGHT_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    row = session.scalar(_scope(select(Sortie).where(Sortie.id == sortie_id), user))
    state = request.app.state.sorties.get(sortie_id)
    if row is None:
        raise HTTPException(404, f"sortie {sortie_id!r} not found")
    if state is None or state["status"] not in ACTIVE or state["task"] is None:
        raise HTTPException(409, f"sortie {sortie_id} is not in flight (status {row.status})")
    audit.append(session, user.actor, "sortie.abort", f"sortie:{sortie_id}", {})
    session.commit()
    state["task"].cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(state["task"]), 10.0)
    return {"sortie_id": sortie_id, "status": state["status"]}


def _live(request: Request, sortie_id: str) -> dict[str, Any] | None:
    state = request.app.state.sorties.get(sortie_id)
    if state is None:
        return None
    return {k: v for k, v in state.items() if k != "task"}


@router.get("/sorties", summary="Sorties, newest first")
def list_sorties(
    request: Request,
    mission_id: str | None = Query(None, max_length=100),
    status: str | None = Query(None, max_length=32),
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    return paginated(
        request,
        session,
        _scope(select(Sortie), user),
        paging,
        where=(equals(Sortie.mission_id, mission_id), equals(Sortie.status, status)),
        order_by=(Sortie.started_at.desc().nulls_first(), Sortie.id.desc()),
        render=lambda rows: [
            sortie_view(r, _live(request, r.id), _reports(request, r.id)) for r in rows
        ],
    )


@router.get("/sorties/{sortie_id}", summary="One sortie with its live state")
def get_sortie(
    request: Request,
    sortie_id: str = PathParam(max_length=100),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    row = session.scalar(_scope(select(Sortie).where(Sortie.id == sortie_id), user))
    if row is None:
        raise HTTPException(404, f"sortie {sortie_id!r} not found")
    return sortie_view(row, _live(request, sortie_id), _reports(request, row.id))


@router.get(
    "/sorties/{sortie_id}/report/{fmt}",
    summary="The sortie's mission report (HTML or PDF), as `patrol sortie report` wrote it",
    response_class=FileResponse,
)
def sortie_report(
    request: Request,
    sortie_id: str = PathParam(max_length=100),
    fmt: str = PathParam(pattern="^(html|pdf)$"),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> FileResponse:
    row = session.scalar(_scope(select(Sortie).where(Sortie.id == sortie_id), user))
    if row is None:
        raise HTTPException(404, f"sortie {sortie_id!r} not found")
    # Reports live in the data directory, one folder per sortie (patrol.sortie_report).
    path = Path(request.app.state.config.data_dir) / "reports" / row.id / f"report.{fmt}"
    if not path.is_file():
        raise HTTPException(
            404, f"sortie {row.id} has no {fmt} report yet; make it with `patrol sortie report`"
        )
    media = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    # Inline: the console's link opens the report in a tab (saving it keeps the file name).
    return FileResponse(
        path, media_type=media, filename=f"{row.id}.{fmt}", content_disposition_type="inline"
    )


@router.get("/vehicles", summary="Enrolled vehicles with their last live position and status")
def list_vehicles(
    request: Request,
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    hub = request.app.state.hub
    items = []
    for d in session.scalars(select(Device).order_by(Device.vehicle_id)):
        last = hub.last.get(d.vehicle_id, {})
        if not user.all_departments and last.get("site_id") is not None:
            # A vehicle seen over another department's site is theirs to follow.
            visible = set(session.scalars(visible_site_ids(user)))
            if last["site_id"] not in visible:
                continue
        items.append(
            {
                "vehicle_id": d.vehicle_id,
                "enrolled_at": d.enrolled_at,
                "revoked": d.revoked_at is not None,
                "last_seq": d.last_seq,
                "legal_review_ref": d.legal_review_ref,
                "metrology_valid_until": d.metrology_valid_until,
                "position": last.get("position"),
                "status": last.get("status"),
            }
        )
    return {"total": len(items), "items": items}
