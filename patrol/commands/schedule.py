"""`patrol schedule add|list|show|pause|resume|remove|runs|no-fly`: automated patrol schedules.

A schedule flies a mission template over a site on an RFC 5545 recurrence (RRULE), within an
optional time window, skipping public holidays, with a pool of vehicles; `patrol run` launches
the due runs through the preflight gates. Every change is audited. See docs/schedules.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="巡查计划 (Automated patrol schedules).", no_args_is_help=True)

ACTOR = "user:cli"


@contextmanager
def _session() -> Iterator[Any]:
    from cases.db import make_engine, session_factory, upgrade

    try:
        settings = Settings.load()
        settings.ensure_dirs()
    except ConfigError as exc:
        fail(str(exc))
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _when(text: str | None, field: str, timezone: str) -> datetime | None:
    """An ISO time; without a zone it is read in the schedule's time zone."""
    from cases.schedules import ScheduleError, zone

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"{field}: {text!r} is not an ISO date/time; write e.g. 2026-12-01T06:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone(timezone))


def _site_id(session: Any, arg: str, department: str | None) -> str:
    """A site in the database; an imported site or a site file is stored there first."""
    from pathlib import Path

    from cases.models import Department, SiteRecord
    from cases.schedules import ScheduleError
    from missions.errors import MissionsError
    from missions.site import load_site
    from patrol.commands.site import sites_dir

    if session.get(SiteRecord, arg) is not None:
        return arg
    candidates = [Path(arg), sites_dir() / f"{arg}.geojson"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ScheduleError(
            f"site: {arg!r} is not in the database, not an imported site and not a file; "
            "import it with `patrol site import FILE` (or give the .geojson file)"
        )
    try:
        site = load_site(path)
    except MissionsError as exc:
        raise ScheduleError(f"site: {exc}") from None
    if session.get(SiteRecord, site.id) is None:
        if department is not None and session.get(Department, department) is None:
            raise ScheduleError(f"department: {department!r} does not exist")
        session.add(
            SiteRecord(
                id=site.id, name=site.name, department_id=department, geojson=site.to_geojson()
            )
        )
        session.flush()
    return site.id


def _local(iso: str | None, timezone: str) -> str:
    """An ISO UTC time as the schedule's local time, for people."""
    from cases.schedules import zone

    if not iso:
        return "-"
    return f"{datetime.fromisoformat(iso).astimezone(zone(timezone)):%Y-%m-%d %H:%M} {timezone}"


def _next(session: Any, row: Any) -> str | None:
    from cases.models import utcnow
    from cases.schedules import next_due

    if row.state != "active":
        return None
    times = next_due(session, row, utcnow())
    return times[0].isoformat() if times else None


@app.command("add")
def add(
    name: str = typer.Option(..., help="Name, e.g. 浑河堤岸每周巡查."),
    site: str = typer.Option(..., help="Site id (database or imported), or a site file."),
    rrule: str = typer.Option(
        ..., help="RFC 5545 RRULE, e.g. 'FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=30'."
    ),
    vehicle: list[str] = typer.Option(
        ..., "--vehicle", help="A vehicle of the pool (repeat for several)."
    ),
    start: str = typer.Option(
        None, help="First possible run (ISO time; default now), anchors the recurrence."
    ),
    timezone: str = typer.Option("Asia/Shanghai", help="Zone the RRULE and window are in."),
    window: str = typer.Option(None, help="'HH:MM-HH:MM' (local) or 'daylight'."),
    skip_holidays: bool = typer.Option(
        True, "--skip-holidays/--fly-holidays", help="Skip public holidays (法定节假日)."
    ),
    workdays_only: bool = typer.Option(
        False, "--workdays-only", help="Fly on working days only (make-up workdays included)."
    ),
    missed: str = typer.Option(
        "run-once-late", help="A run missed while the service was down: run-once-late or skip."
    ),
    pattern: str = typer.Option("perimeter", help="survey, perimeter or point."),
    vehicle_kind: str = typer.Option("copter", help="copter or rover."),
    altitude: float = typer.Option(50.0, help="Altitude above launch (m)."),
    speed: float = typer.Option(None, help="Speed (m/s; default the vehicle's)."),
    target: str = typer.Option(None, help="Point inspection: 'LON,LAT'."),
    department: str = typer.Option(None, help="Department of a site stored from a file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Add a schedule (checked: recurrence, window, plan over the site, vehicle overlaps)."""
    from cases.errors import CasesError
    from cases.schedules import ScheduleError, ScheduleSpec, create_schedule, view

    mission: dict[str, Any] = {
        "pattern": pattern,
        "vehicle": vehicle_kind,
        "altitude_agl_m": altitude,
        "speed_m_s": speed,
    }
    try:
        if target is not None:
            try:
                lon, lat = (float(v) for v in target.split(","))
            except ValueError:
                raise ScheduleError(f"target: {target!r} is not 'LON,LAT'") from None
            mission["target"] = [lon, lat]
        policy = missed.replace("-", "_")
        with _session() as session:
            spec = ScheduleSpec(
                name=name,
                site_id=_site_id(session, site, department),
                rrule=rrule,
                vehicles=list(vehicle),
                mission=mission,
                starts_at=_when(start, "start", timezone),
                timezone=timezone,
                window=window,
                skip_holidays=skip_holidays,
                workdays_only=workdays_only,
                missed_policy=policy,
            )
            row = create_schedule(session, spec, ACTOR)
            session.commit()
            out = {**view(row), "next_due": _next(session, row)}
    except CasesError as exc:
        fail(str(exc))
    if as_json:
        emit_json(out)
    else:
        console.print(
            f"schedule {out['id']} '{out['name']}' added: {out['rrule']} over {out['site_id']}, "
            f"vehicles {', '.join(out['vehicles'])}; next due "
            f"{_local(out['next_due'], out['timezone'])}"
        )


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include removed schedules."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List the schedules with their state and next due time."""
    from sqlalchemy import select

    from cases.schedules import Schedule, view

    with _session() as session:
        query = select(Schedule).order_by(Schedule.id)
        if not all_:
            query = query.where(Schedule.state != "removed")
        items = [{**view(s), "next_due": _next(session, s)} for s in session.scalars(query)]
    if as_json:
        emit_json({"schedules": items})
        return
    if not items:
        console.print("no schedules; add one with `patrol schedule add`")
    for s in items:
        console.print(
            f"{s['id']:>4} {s['state']:<7} {s['name']:<24} {s['site_id']:<20} {s['rrule']:<36} "
            f"next {_local(s['next_due'], s['timezone'])}"
        )


def _change(ref: str, state: str, as_json: bool) -> None:
    from cases.errors import CasesError
    from cases.schedules import get_schedule, set_state, view

    try:
        with _session() as session:
            row = set_state(session, get_schedule(session, ref), state, ACTOR)
            session.commit()
            out = {**view(row), "next_due": _next(session, row)}
    except CasesError as exc:
        fail(str(exc))
    if as_json:
        emit_json(out)
    else:
        console.print(f"schedule {out['id']} '{out['name']}' is {out['state']}")


@app.command("pause")
def pause(
    schedule: str = typer.Argument(..., help="Schedule id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Pause a schedule (runs falling due while paused are not made up)."""
    _change(schedule, "paused", as_json)


@app.command("resume")
def resume(
    schedule: str = typer.Argument(..., help="Schedule id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Resume a paused schedule (overlaps are checked again)."""
    _change(schedule, "active", as_json)


@app.command("remove")
def remove(
    schedule: str = typer.Argument(..., help="Schedule id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Remove a schedule (its runs stay on record)."""
    _change(schedule, "removed", as_json)


@app.command("runs")
def runs(
    schedule: str = typer.Argument(..., help="Schedule id."),
    limit: int = typer.Option(50, min=1, max=10_000, help="Newest runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """The decisions taken for a schedule's due runs: flown, skipped (why), blocked (gate)."""
    from sqlalchemy import select

    from cases.errors import CasesError
    from cases.schedules import ScheduleRun, get_schedule, run_view

    try:
        with _session() as session:
            row = get_schedule(session, schedule)
            items = [
                run_view(r)
                for r in session.scalars(
                    select(ScheduleRun)
                    .where(ScheduleRun.schedule_id == row.id)
                    .order_by(ScheduleRun.due_at.desc())
                    .limit(limit)
                )
            ]
    except CasesError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"schedule_id": int(schedule), "runs": items})
        return
    for r in items:
        console.print(
            f"{r['due_at']}  {r['decision']:<13} {r['status']:<11} {r['vehicle_id'] or '-':<10} "
            f"{r['reason']}"
        )


@app.command("no-fly")
def no_fly(
    start: str = typer.Option(..., "--from", help="Start (ISO time; local zone if none)."),
    end: str = typer.Option(..., "--to", help="End (ISO time)."),
    reason: str = typer.Option("", help="Why (e.g. 空域管制 NOTAM)."),
    site: str = typer.Option(None, help="Site id (default: every site)."),
    timezone: str = typer.Option("Asia/Shanghai", help="Zone of times given without one."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Declare a no-fly window: no automatic sortie launches in it (a preflight gate)."""
    from cases.errors import CasesError
    from cases.schedules import add_no_fly

    try:
        frm = _when(start, "from", timezone)
        to = _when(end, "to", timezone)
        assert frm is not None and to is not None
        with _session() as session:
            row = add_no_fly(session, frm, to, reason, ACTOR, site_id=site)
            session.commit()
            out = {
                "id": row.id,
                "site_id": row.site_id,
                "from": row.starts_at.isoformat(),
                "to": row.ends_at.isoformat(),
                "reason": row.reason,
            }
    except CasesError as exc:
        fail(str(exc))
    if as_json:
        emit_json(out)
    else:
        console.print(f"no-fly window {out['id']}: {out['from']} to {out['to']} {out['reason']}")
