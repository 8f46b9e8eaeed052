"""`patrol mission plan|check|show`: plan a mission over a site, check any mission file
against a site with the independent checker, and draw a map (PNG) of a site and a path."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from missions.camera import CameraModel
from missions.check import check_mission
from missions.errors import MissionsError
from missions.formats import MissionFile, load_mission, plan_to_file, save_mission
from missions.plan import MissionPlan
from missions.site import Site
from patrol.commands.site import resolve_site
from patrol.output import console, emit_json, fail

app = typer.Typer(help="任务规划 (Plan, check and show missions).", no_args_is_help=True)


class Pattern(StrEnum):
    survey = "survey"
    perimeter = "perimeter"
    point = "point"
    checkpoints = "checkpoints"


class Vehicle(StrEnum):
    copter = "copter"
    rover = "rover"


def _parse_lonlat(text: str) -> tuple[float, float]:
    try:
        lon_s, lat_s = text.split(",")
        return float(lon_s), float(lat_s)
    except ValueError:
        fail(f"--target {text!r} must be LON,LAT in degrees, e.g. 123.4860,41.7041")


def _plans(
    site: Site,
    pattern: Pattern,
    vehicle: Vehicle,
    altitude: float,
    vehicles: int,
    opts: dict[str, Any],
) -> list[MissionPlan]:
    from missions import patterns, split, survey
    from missions.plan import VehicleProfile

    v = vehicle.value
    profile = VehicleProfile.for_kind(v).with_endurance(
        None if opts["endurance"] is None else opts["endurance"] * 60.0, opts["reserve"]
    )
    if pattern is Pattern.survey:
        if v != "copter":
            fail("--pattern survey needs --vehicle copter; a rover patrols with perimeter/point")
        kw = {
            "altitude_agl_m": altitude,
            "front_overlap": opts["front_overlap"],
            "side_overlap": opts["side_overlap"],
            "angle_deg": opts["angle"],
            "margin_m": opts["margin"],
            "speed_m_s": opts["speed"] or 10.0,
            "profile": profile,
        }
        if vehicles > 1:
            return split.split_survey(site, CameraModel.default(), vehicles, **kw)
        return [survey.plan_survey(site, CameraModel.default(), capture=opts["capture"], **kw)]
    if vehicles > 1:
        fail(f"--vehicles {vehicles}: only a survey can be split among vehicles")
    if pattern is Pattern.perimeter:
        return [
            patterns.plan_perimeter(
                site,
                v,
                inset_m=opts["inset"],
                altitude_agl_m=altitude,
                speed_m_s=opts["speed"],
                profile=profile,
            )
        ]
    if pattern is Pattern.checkpoints:
        return [
            patterns.plan_checkpoints(
                site, None, v, altitude_agl_m=altitude, margin_m=opts["margin"],
                speed_m_s=opts["speed"], hold_s=opts["hold"], profile=profile,
            )
        ]  # fmt: skip
    if opts["target"] is None:
        if not site.pois:
            fail("--pattern point needs --target LON,LAT (the site has no poi to default to)")
        target = (site.pois[0].lon, site.pois[0].lat)
        name = site.pois[0].name
    else:
        target, name = _parse_lonlat(opts["target"]), "target"
    return [
        patterns.plan_point(
            site, target, v, altitude_agl_m=altitude, orbit_radius_m=opts["orbit"],
            hold_s=opts["hold"], margin_m=opts["margin"], speed_m_s=opts["speed"], name=name,
            profile=profile,
        )
    ]  # fmt: skip


def _out_paths(out: Path, n: int) -> list[Path]:
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{k + 1}{out.suffix}") for k in range(n)]


@app.command("plan")
def plan(
    site: str = typer.Argument(..., help="Site file (.geojson/.kml) or imported site id."),
    pattern: Pattern = typer.Option(Pattern.survey, "--pattern", help="What to fly."),
    vehicle: Vehicle = typer.Option(Vehicle.copter, "--vehicle", help="copter or rover."),
    altitude: float = typer.Option(50.0, "--altitude", help="Metres above launch (copter)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the mission: .plan (QGC), .waypoints, or .geojson."
    ),
    vehicles: int = typer.Option(1, "--vehicles", help="Split a survey among N vehicles."),
    angle: float | None = typer.Option(None, "--angle", help="Survey leg heading, degrees."),
    front_overlap: float = typer.Option(0.7, "--front-overlap", help="0..0.95"),
    side_overlap: float = typer.Option(0.6, "--side-overlap", help="0..0.95"),
    margin: float = typer.Option(5.0, "--margin", help="Safety margin from exclusions, m."),
    inset: float = typer.Option(10.0, "--inset", help="Perimeter inset from the boundary, m."),
    speed: float | None = typer.Option(None, "--speed", help="Cruise speed, m/s."),
    target: str | None = typer.Option(None, "--target", help="Point pattern: LON,LAT."),
    orbit: float = typer.Option(0.0, "--orbit", help="Point pattern: orbit radius m (0 hover)."),
    hold: float = typer.Option(10.0, "--hold", help="Seconds to hover at a point/checkpoint."),
    endurance: float | None = typer.Option(
        None, "--endurance", help="Battery endurance, minutes (copter 25, rover 180)."
    ),
    reserve: float | None = typer.Option(None, "--reserve", help="Kept in reserve, 0..0.9."),
    capture: str = typer.Option(
        "distance", "--capture", help="Survey photos: distance (trigger) or waypoint."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Plan a mission, check it independently, and optionally write it to a file."""
    s = resolve_site(site)
    opts = {
        "angle": angle, "front_overlap": front_overlap, "side_overlap": side_overlap,
        "margin": margin, "inset": inset, "speed": speed, "target": target, "orbit": orbit,
        "hold": hold, "capture": capture, "endurance": endurance, "reserve": reserve,
    }  # fmt: skip
    try:
        plans = _plans(s, pattern, vehicle, altitude, vehicles, opts)
        files: list[str] = []
        if out is not None:
            for p, path in zip(plans, _out_paths(out, len(plans)), strict=True):
                save_mission(path, plan_to_file(p), p.path_lonlat)
                files.append(str(path))
    except MissionsError as exc:
        fail(str(exc))
    summaries = [p.summary() for p in plans]
    for k, summ in enumerate(summaries):
        summ["file"] = files[k] if files else None
    doc: dict[str, Any] = dict(summaries[0]) if len(plans) == 1 else {
        "site_id": s.id,
        "pattern": pattern.value,
        "vehicles": len(plans),
        "valid": all(x["valid"] for x in summaries),
        "waypoints": sum(x["waypoints"] for x in summaries),
        "distance_m": round(sum(x["distance_m"] for x in summaries), 1),
        "duration_s": round(max(x["duration_s"] for x in summaries), 1),
        "photos": sum(x["photos"] for x in summaries),
        "coverage_pct": round(min(100.0, sum(x["coverage_pct"] for x in summaries)), 2),
        "plans": summaries,
    }  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    for summ in summaries:
        console.print(
            f"[bold]{summ['pattern']}[/] {summ['vehicle']}: {summ['waypoints']} waypoints, "
            f"{summ['distance_m'] / 1000:.2f} km, {summ['duration_s'] / 60:.1f} min, "
            f"{summ['photos']} photos, coverage {summ['coverage_pct']:.1f} %, "
            f"battery {summ['battery_pct']} %, "
            + ("[green]checked OK[/]" if summ["valid"] else "[red]FAILED CHECK[/]")
        )
        for w in summ["warnings"]:
            console.print(f"[yellow]warning[/]: {w}")
        if summ["file"]:
            console.print(f"written to {summ['file']}")


@app.command("check")
def check(
    site: str = typer.Argument(..., help="Site file or imported site id."),
    mission_file: Path = typer.Argument(..., help=".plan, .waypoints or .geojson mission."),
    vehicle: Vehicle | None = typer.Option(None, "--vehicle", help="Default: from the file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Prove every waypoint and leg of a mission file is inside the site; exit 1 naming the
    offending item or leg if not."""
    s = resolve_site(site)
    try:
        mf = load_mission(mission_file)
    except MissionsError as exc:
        fail(str(exc))
    kind = vehicle.value if vehicle is not None else mf.vehicle
    report = check_mission(s, mf.items, vehicle=kind)
    if as_json:
        emit_json({"valid": report.ok, "vehicle": kind, "notes": mf.notes, **report.to_dict()})
    elif report.ok:
        console.print(
            f"[green]OK[/]: {report.waypoints_checked} positions and {report.legs_checked} legs "
            f"inside {s.name} and its altitude limits"
        )
    if not report.ok:
        fail(f"{mission_file}: {report.problems[0]}" + (
            f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        ))  # fmt: skip


@app.command("show")
def show(
    site: str = typer.Argument(..., help="Site file or imported site id."),
    mission_file: Path | None = typer.Argument(None, help="Mission file to draw (optional)."),
    out: Path = typer.Option(Path("mission.png"), "--out", help="PNG file to write."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Draw the site (keep-in, exclusions, launch, rally) and the mission path to a PNG."""
    s = resolve_site(site)
    mf: MissionFile | None = None
    if mission_file is not None:
        try:
            mf = load_mission(mission_file)
        except MissionsError as exc:
            fail(str(exc))
    from missions.render import render_map

    try:
        render_map(s, mf.items if mf else None, out)
    except OSError as exc:
        fail(f"cannot write {out} ({exc.strerror})")
    if as_json:
        emit_json({"png": str(out), "site_id": s.id, "items": len(mf.items) if mf else 0})
    else:
        console.print(f"map written to {out}")
