"""`patrol site import|show|validate|list`: sites (keep-in area, exclusions, launch point).

A SITE argument is a GeoJSON or KML file, or the id of a site imported before (kept as
``$FIELDPATROL_HOME/sites/<id>.geojson``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from missions.errors import MissionsError
from missions.site import Site, load_site
from patrol.config import Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="巡查区域 (Import, show and validate sites).", no_args_is_help=True)


def sites_dir(settings: Settings | None = None) -> Path:
    return (settings or Settings.load()).home / "sites"


def resolve_site(arg: str) -> Site:
    """A site from a file path, or from the id of an imported site."""
    path = Path(arg)
    try:
        if path.exists():
            return load_site(path)
        if re.fullmatch(r"[A-Za-z0-9_.-]+", arg):
            stored = sites_dir() / f"{arg}.geojson"
            if stored.is_file():
                return load_site(stored)
    except MissionsError as exc:
        fail(str(exc))
    fail(
        f"site {arg!r} is neither a file nor an imported site; give a .geojson/.kml file or "
        "import it first with `patrol site import FILE`"
    )


def site_summary(site: Site) -> dict[str, Any]:
    allowed = site.local_allowed
    minx, miny, maxx, maxy = site.keep_in.bounds
    return {
        "id": site.id,
        "name": site.name,
        "area_m2": round(site.local_keep_in.area, 1),
        "allowed_area_m2": round(allowed.area, 1),
        "min_alt_m": site.min_alt_m,
        "max_alt_m": site.max_alt_m,
        "launch": list(site.launch),
        "exclusions": [
            {
                "name": site.exclusion_name(i),
                "kind": site.exclusion_info[i].kind if i < len(site.exclusion_info) else "polygon",
                "area_m2": round(poly.area, 1),
            }
            for i, poly in enumerate(site.local_exclusions)
        ],
        "rally": [list(p) for p in site.rally],
        "pois": [{"name": p.name, "lon": p.lon, "lat": p.lat} for p in site.pois],
        "bounds": [minx, miny, maxx, maxy],
    }


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title=f"{s['name']} ({s['id']})", show_header=False)
    area, flyable = s["area_m2"] / 1e4, s["allowed_area_m2"] / 1e4
    table.add_row("area", f"{area:.2f} ha ({flyable:.2f} ha flyable)")
    table.add_row("altitude", f"{s['min_alt_m']:g}–{s['max_alt_m']:g} m above launch")
    table.add_row("launch", f"{s['launch'][0]:.7f}, {s['launch'][1]:.7f}")
    for e in s["exclusions"]:
        table.add_row("exclusion", f"{e['name']} ({e['kind']}, {e['area_m2']:.0f} m²)")
    for r in s["rally"]:
        table.add_row("rally", f"{r[0]:.7f}, {r[1]:.7f}")
    for p in s["pois"]:
        table.add_row("poi", f"{p['name']}: {p['lon']:.7f}, {p['lat']:.7f}")
    console.print(table)


@app.command("import")
def import_site(
    file: Path = typer.Argument(..., help="Site file (.geojson or .kml)."),
    site_id: str | None = typer.Option(None, "--id", help="Store under this id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Validate a site file and store it under its id in the data directory."""
    try:
        site = load_site(file)
    except MissionsError as exc:
        fail(str(exc))
    if site_id is not None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", site_id):
            fail(f"--id {site_id!r} may only contain letters, digits, '.', '_' and '-'")
        site.id = site_id
    out_dir = sites_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {out_dir} ({exc.strerror}); set FIELDPATROL_HOME to a writable dir")
    target = out_dir / f"{site.id}.geojson"
    target.write_text(json.dumps(site.to_geojson(), ensure_ascii=False, indent=1), "utf-8")
    summary = {**site_summary(site), "stored": str(target)}
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)
        console.print(f"stored as [bold]{site.id}[/] in {target}")


@app.command("show")
def show_site(
    site: str = typer.Argument(..., help="Site file or imported site id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show a site's area, limits, exclusion zones and points."""
    summary = site_summary(resolve_site(site))
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)


@app.command("validate")
def validate_site(
    file: Path = typer.Argument(..., help="Site file (.geojson or .kml)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Check a site file; exit 1 with the problem (field, value, fix) if it is not valid."""
    try:
        site = load_site(file)
    except MissionsError as exc:
        if as_json:
            emit_json({"valid": False, "error": str(exc)})
        fail(str(exc))
    if as_json:
        emit_json({"valid": True, **site_summary(site)})
    else:
        console.print(f"[green]valid[/]: {site.name} ({site.id})")


@app.command("list")
def list_sites(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List imported sites."""
    found = []
    d = sites_dir()
    for path in sorted(d.glob("*.geojson")) if d.is_dir() else []:
        try:
            s = load_site(path)
        except MissionsError as exc:
            found.append({"id": path.stem, "error": str(exc)})
            continue
        found.append({"id": s.id, "name": s.name, "area_m2": round(s.local_keep_in.area, 1)})
    if as_json:
        emit_json({"sites": found})
    else:
        for f in found:
            console.print(f"{f['id']}\t{f.get('name', f.get('error'))}")
