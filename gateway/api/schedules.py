"""Schedules: automated patrols of a site (RFC 5545 recurrence, time window, holidays,
mission template, vehicle pool, missed-run policy), set by supervisors; their runs with the
decision taken and the preflight gate results, for the console.

The rules live in `cases.schedules`; `patrol run` executes the schedules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import SiteRecord, utcnow
from cases.schedules import (
    OverlapError,
    Schedule,
    ScheduleError,
    ScheduleRun,
    ScheduleSpec,
    create_schedule,
    next_due,
    run_view,
    set_state,
    view,
)
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
from gateway.api.scope import visible_site, visible_site_ids

router = APIRouter(tags=["schedules"])

#: Who may set, pause, resume and remove automated patrols.
SCHEDULE_ROLES = (SUPERVISOR, ADMIN, "head")


class MissionTemplate(BaseModel):
    pattern: Literal["survey", "perimeter", "point"] = "perimeter"
    vehicle: Literal["copter", "rover"] = "copter"
    altitude_agl_m: float = Field(default=50.0, ge=2.0, le=500.0)
    speed_m_s: float | None = Field(default=None, gt=0.0, le=40.0)
    target: tuple[float, float] | None = Field(
        default=None, description="point inspection: (lon, lat) of the place to look at"
    )


class NewSchedule(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    site_id: str = Field(max_length=100)
    rrule: str = Field(
        min_length=1,
        max_length=500,
        description="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=30",
    )
    vehicles: list[str] = Field(min_length=1, max_length=50, description="the vehicle pool")
    mission: MissionTemplate = Field(default_factory=lambda: MissionTemplate())
    starts_at: datetime | None = Field(
        None, description="anchor of the recurrence (default: today 00:00 in `timezone`)"
    )
    timezone: str = Field("Asia/Shanghai", max_length=64)
    window: str | None = Field(None, max_length=32, description="HH:MM-HH:MM or daylight")
    skip_holidays: bool = True
    workdays_only: bool = False
    missed_policy: Literal["run_once_late", "skip"] = "run_once_late"


def _scope(query: Any, user: Principal) -> Any:
    if user.all_departments:
        return query
    return query.where(Schedule.site_id.in_(visible_site_ids(user)))


def _visible(session: Session, user: Principal, schedule_id: int) -> Schedule:
    row = session.scalar(_scope(select(Schedule).where(Schedule.id == schedule_id), user))
    if row is None:
        raise HTTPException(404, f"schedule {schedule_id} not found")
    return row


def _out(session: Session, row: Schedule) -> dict[str, Any]:
    nxt = next_due(session, row, utcnow()) if row.state == "active" else []
    return {**view(row), "next_due": nxt[0].isoformat() if nxt else None}


@router.get("/schedules", summary="Automated patrol schedules of the user's department")
def list_schedules(
    request: Request,
    state: Literal["active", "paused", "removed"] | None = None,
    site_id: str | None = None,
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    return paginated(
        request,
        session,
        _scope(select(Schedule), user),
        paging,
        where=(
            Schedule.state == state if state is not None else Schedule.state != "removed",
            Schedule.site_id == site_id if site_id is not None else None,
        ),
        order_by=(Schedule.id,),
        render=lambda rows: [_out(session, r) for r in rows],
    )


@router.post(
    "/schedules",
    status_code=201,
    summary="Add a schedule (checked: recurrence, window, plan, vehicle overlaps)",
    responses={409: {"description": "a vehicle of the pool would fly two sorties at once"}},
)
def add_schedule(
    body: NewSchedule,
    user: Principal = Depends(require(*SCHEDULE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    site: SiteRecord = visible_site(session, user, body.site_id)
    spec = ScheduleSpec(
        name=body.name,
        site_id=site.id,
        rrule=body.rrule,
        vehicles=list(body.vehicles),
        mission=body.mission.model_dump(mode="json"),
        starts_at=body.starts_at,
        timezone=body.timezone,
        window=body.window,
        skip_holidays=body.skip_holidays,
        workdays_only=body.workdays_only,
        missed_policy=body.missed_policy,
    )
    if spec.mission.get("target") is None:
        spec.mission.pop("target", None)
    try:
        row = create_schedule(session, spec, user.actor)
    except OverlapError as exc:
        raise HTTPException(409, str(exc)) from None
    except ScheduleError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return _out(session, row)


@router.get("/schedules/{schedule_id}", summary="One schedule with its next due time")
def get_schedule(
    schedule_id: int = PathParam(ge=1, le=2**31 - 1),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return _out(session, _visible(session, user, schedule_id))


def _change(session: Session, user: Principal, schedule_id: int, state: str) -> dict[str, Any]:
    row = _visible(session, user, schedule_id)
    try:
        set_state(session, row, state, user.actor)
    except ScheduleError as exc:  # an overlap, or a state change the schedule refuses
        raise HTTPException(409, str(exc)) from None
    session.commit()
    return _out(session, row)


@router.post("/schedules/{schedule_id}/pause", summary="Pause a schedule")
def pause_schedule(
    schedule_id: int = PathParam(ge=1, le=2**31 - 1),
    user: Principal = Depends(require(*SCHEDULE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return _change(session, user, schedule_id, "paused")


@router.post("/schedules/{schedule_id}/resume", summary="Resume a paused schedule")
def resume_schedule(
    schedule_id: int = PathParam(ge=1, le=2**31 - 1),
    user: Principal = Depends(require(*SCHEDULE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return _change(session, user, schedule_id, "active")


@router.delete("/schedules/{schedule_id}", summary="Remove a schedule (its runs stay on record)")
def remove_schedule(
    schedule_id: int = PathParam(ge=1, le=2**31 - 1),
    user: Principal = Depends(require(*SCHEDULE_ROLES)),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    return _change(session, user, schedule_id, "removed")


@router.get(
    "/schedules/{schedule_id}/runs",
    summary="Decisions on a schedule's due runs (newest first): flown, skipped, blocked by a gate",
)
def list_runs(
    request: Request,
    schedule_id: int = PathParam(ge=1, le=2**31 - 1),
    status: str | None = None,
    paging: Page = Depends(page),
    user: Principal = Depends(current_user),
    session: Session = Depends(db_session),
) -> Response:
    row = _visible(session, user, schedule_id)
    return paginated(
        request,
        session,
        select(ScheduleRun).where(ScheduleRun.schedule_id == row.id),
        paging,
        where=(ScheduleRun.status == status if status is not None else None,),
        order_by=(ScheduleRun.due_at.desc(), ScheduleRun.id.desc()),
        render=lambda rows: [run_view(r) for r in rows],
    )
