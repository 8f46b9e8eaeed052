"""`patrol fleet status`: the vehicles this installation knows, their sorties and state.

Read from the case database (devices and the `sorties` table), so it shows fleets flown by
any process on this data directory: `patrol run`, schedules, `patrol demo`, scripts using
`patrol.fleet.Fleet`.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="车队 (Vehicles, their sorties and state).", no_args_is_help=True)

ACTIVE = ("planned", "launching", "flying")
STATE_ZH = {"flying": "执行中", "idle": "空闲", "lost": "失联", "revoked": "已停用"}


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

    ground = Ground(settings)
    ground.open_database()
    try:
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
        elif last is not None and last.status == "lost":
            state = "lost"
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
    return {"vehicles": vehicles, "sorties": sorties, "flying": flying}


@app.callback()
def group() -> None:
    """A group even with one command: more sub-commands join it later."""


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
