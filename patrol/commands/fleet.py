"""`patrol fleet status` and `patrol fleet survey`.

`status`: the vehicles this installation knows, their sorties and state, read from the case
database (devices and the `sorties` table), so it shows fleets flown by any process on this
data directory: `patrol run`, schedules, `patrol demo`, `patrol fleet survey`, scripts using
`patrol.fleet.Fleet`.

`survey`: split a site's survey among several simulated vehicles and fly them at once
(`patrol.fleet.Fleet`); Ctrl-C (or SIGTERM) aborts them all (RTL) and waits for them.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="车队 (Vehicles, their sorties and state).", no_args_is_help=True)

ACTIVE = ("launching", "flying")
STATE_ZH = {
    "flying": "执行中",
    "idle": "空闲",
    "lost": "失联",
    "interrupted": "中断",
    "revoked": "已停用",
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def fleet_status(
    settings: Settings, limit: int = 20, vehicle_id: str | None = None
) -> dict[str, Any]:
    """Vehicles (enrolled or seen in a sortie) with their state, and the latest sorties."""
    from sqlalchemy import func, select

    from cases.models import Device, MissionRecord, Sortie
    from patrol.fleet import FleetError
    from patrol.ground import Ground
    from patrol.sortie_claims import recover_stale

    ground = Ground(settings)
    ground.open_database()
    try:
        # A sortie whose process crashed is not shown flying (`patrol.sortie_claims`).
        recovered = recover_stale(ground)
        with ground.sessions() as session:
            devices = {d.vehicle_id: d for d in session.scalars(select(Device))}
            counts = dict(
                session.execute(
                    select(Sortie.vehicle_id, func.count()).group_by(Sortie.vehicle_id)
                ).all()
            )
            query = (
                select(Sortie, MissionRecord.site_id)
                .outerjoin(MissionRecord, MissionRecord.id == Sortie.mission_id)
                .order_by(Sortie.started_at.desc().nulls_first(), Sortie.id.desc())
            )
            if vehicle_id is not None:
                query = query.where(Sortie.vehicle_id == vehicle_id)
            recent = session.execute(query.limit(limit)).all()
            latest: dict[str, Any] = {}
            rows = session.execute(
                select(Sortie).order_by(Sortie.started_at.desc().nulls_first(), Sortie.id.desc())
            ).scalars()
            for row in rows:
                latest.setdefault(row.vehicle_id, row)
    finally:
        ground.stop()
    if vehicle_id is not None and vehicle_id not in devices and vehicle_id not in counts:
        raise FleetError(
            f"vehicle {vehicle_id!r} is not known here (not enrolled, no sortie); "
            "run `patrol fleet status` to list the vehicles"
        )
    vehicles = []
    for vid in sorted(set(devices) | set(counts)):
        if vehicle_id is not None and vid != vehicle_id:
            continue
        device = devices.get(vid)
        last = latest.get(vid)
        if device is not None and device.revoked_at is not None:
            state = "revoked"
        elif last is not None and last.status in ACTIVE:
            state = "flying"
        elif last is not None and last.status in ("lost", "interrupted"):
            # Interrupted: the process flying it stopped; someone should check the vehicle.
            state = str(last.status)
        else:
            state = "idle"
        vehicles.append(
            {
                "vehicle_id": vid,
                "enrolled": device is not None,
                "state": state,
                "sorties": int(counts.get(vid, 0)),
                "last_sortie": None
                if last is None
                else {
                    "sortie_id": last.id,
                    "status": last.status,
                    "started_at": _iso(last.started_at),
                    "ended_at": _iso(last.ended_at),
                },
            }
        )
    sorties = []
    for row, site_id in recent:
        report = settings.reports_dir / row.id / "report.html"
        sorties.append(
            {
                "sortie_id": row.id,
                "vehicle_id": row.vehicle_id,
                "mission_id": row.mission_id,
                "site_id": site_id,
                "status": row.status,
                "started_at": _iso(row.started_at),
                "ended_at": _iso(row.ended_at),
                "distance_m": row.distance_m,
                "photos": row.photos,
                "area_covered_m2": row.area_covered_m2,
                "report": str(report) if report.is_file() else None,
            }
        )
    flying = sum(1 for v in vehicles if v["state"] == "flying")
    return {"vehicles": vehicles, "sorties": sorties, "flying": flying, "recovered": recovered}


@app.command()
def status(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
    limit: int = typer.Option(20, min=1, max=1000, help="How many recent sorties to list."),
    vehicle: str = typer.Option(None, "--vehicle", help="Only this vehicle and its sorties."),
) -> None:
    """车辆与架次状态 (Vehicles known, their sorties and state)."""
    try:
        settings = Settings.load()
    except ConfigError as exc:
        fail(str(exc))
    data = fleet_status(settings, limit=limit, vehicle_id=vehicle)
    if json_output:
        emit_json(data)
        return
    table = Table(title=f"车辆 Vehicles ({data['flying']} 执行中 flying)")
    for column in ("车辆 vehicle", "状态 state", "架次数 sorties", "最近架次 last sortie"):
        table.add_column(column)
    for v in data["vehicles"]:
        last = v["last_sortie"]
        table.add_row(
            v["vehicle_id"],
            f"{STATE_ZH.get(v['state'], v['state'])} {v['state']}",
            str(v["sorties"]),
            f"{last['sortie_id']} ({last['status']})" if last else "—",
        )
    console.print(table)
    sorties = Table(title="最近架次 Recent sorties")
    for column in (
        "架次 sortie",
        "车辆 vehicle",
        "区域 site",
        "状态 status",
        "开始 started",
        "距离 m",
    ):
        sorties.add_column(column)
    for s in data["sorties"]:
        sorties.add_row(
            s["sortie_id"],
            s["vehicle_id"],
            s["site_id"] or "—",
            s["status"],
            (s["started_at"] or "—")[:19],
            f"{s['distance_m']:.0f}" if s["distance_m"] is not None else "—",
        )
    console.print(sorties)


@app.command()
def survey(
    site: Path = typer.Option(..., "--site", help="Site file (GeoJSON)."),
    vehicles: int = typer.Option(3, min=1, max=32, help="How many vehicles split the survey."),
    spares: int = typer.Option(0, min=0, max=8, help="Spare vehicles for a lost one's work."),
    speedup: float = typer.Option(25.0, min=1.0, max=100.0, help="Simulation speed-up."),
    altitude: float = typer.Option(50.0, help="Survey altitude above launch, metres."),
    vision: bool = typer.Option(
        False, "--vision/--no-vision", help="Run the detector on the frames (evidence)."
    ),
    seed: int = typer.Option(7, help="Seed of the synthetic world."),
    report: bool = typer.Option(
        True, "--report/--no-report", help="Write each sortie's mission report as it ends."
    ),
    timeout: float = typer.Option(1800.0, min=10.0, help="Give up after this many seconds."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """多机协同巡查 (Fly a site's survey with several simulated vehicles at once)."""
    from patrol.fleet import Fleet
    from patrol.ground import Ground

    try:
        settings = Settings.load()
    except ConfigError as exc:
        fail(str(exc))
    if not site.is_file():
        fail(f"site file {site} not found; pass --site PATH to a GeoJSON site file")
    with Ground(settings, actor="patrol.fleet") as ground:
        names = [ground.default_vehicle_id("copter", n + 1) for n in range(vehicles + spares)]

        def show(run: Any, event: Any) -> None:
            if event.kind == "status" or event.kind in ("link_lost", "failsafe", "fence_breach"):
                console.print(
                    f"{event.time:%H:%M:%S} {run.vehicle_id} {run.sortie_id} "
                    f"{event.kind} {event.detail.get('status', '')}"
                    f" {event.detail.get('reason', '')}".rstrip()
                )

        fleet = Fleet(ground, spares=names[vehicles:], on_event=show, reports=report)

        def stop(signum: int, _frame: Any) -> None:
            console.print("中止全部架次 aborting every sortie (RTL)")
            fleet.abort_all("aborted from the console")

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            fleet.survey(site, names[:vehicles], altitude_agl_m=altitude, speedup=speedup,
                         vision=vision, seed=seed)  # fmt: skip
            results = fleet.wait(timeout)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            fleet.close()
    sorties: list[dict[str, Any]] = [
        {
            "sortie_id": r.sortie_id,
            "vehicle_id": r.vehicle_id,
            "status": r.status,
            "reason": r.reason,
            "replans": r.replans,
            "survey_legs": r.survey_legs,
            "flight_time_s": r.flight_time_s,
            "distance_m": r.distance_m,
            "photos": len(r.captures),
            "evidence": len(r.evidence_ids),
            "report": (
                str(settings.reports_dir / r.sortie_id / "report.html")
                if (settings.reports_dir / r.sortie_id / "report.html").is_file()
                else None
            ),
        }
        for r in results
    ]
    data = {
        "sorties": sorties,
        "replans": fleet.replans,
        "unplanned": fleet.unplanned,
        "report_errors": fleet.report_errors,
    }
    if json_output:
        emit_json(data)
        return
    table = Table(title="多机巡查 Fleet survey")
    for column in ("架次 sortie", "车辆 vehicle", "状态 status", "航线段 legs", "距离 m", "照片"):
        table.add_column(column)
    for r in sorties:
        legs = r["survey_legs"]
        table.add_row(
            r["sortie_id"],
            r["vehicle_id"],
            r["status"] + (f" (re-flies {r['replans']})" if r["replans"] else ""),
            f"{legs[0]}–{legs[1]}" if legs else "—",
            f"{r['distance_m']:.0f}",
            str(r["photos"]),
        )
    console.print(table)
    for r in sorties:
        if r["report"]:
            console.print(f"报告 report {r['sortie_id']}: {r['report']}")
    for sortie_id, why in fleet.report_errors.items():
        console.print(f"[yellow]报告未生成 no report for {sortie_id}[/]: {why}")
