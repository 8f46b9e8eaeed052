"""GeoJSON of a planned mission: the flown track as a LineString plus one feature per item.

Every item keeps all its MISSION_ITEM_INT fields in ``properties``, so the file reads back to
the same items; the Point geometries and the track are for map viewers.
"""

from __future__ import annotations

import json
from typing import Any

from missions.errors import FormatError
from missions.formats import MissionFile
from missions.items import MAV_CMD_NAV_RETURN_TO_LAUNCH, NAV_POSITION_COMMANDS, MissionItem

FILE_TYPE = "fieldpatrol-mission"


def _track_from_items(items: list[MissionItem]) -> list[tuple[float, float]]:
    if not items:
        return []
    home = (items[0].lon_deg, items[0].lat_deg)
    out = [home]
    for it in items[1:]:
        if it.command in NAV_POSITION_COMMANDS and it.has_position:
            out.append((it.lon_deg, it.lat_deg))
        elif it.command == MAV_CMD_NAV_RETURN_TO_LAUNCH:
            out.append(home)
    return out


def _feature(it: MissionItem, role: str) -> dict[str, Any]:
    props = {"role": role, "command_name": it.command_name, **it.to_dict()}
    geom = {"type": "Point", "coordinates": [it.lon_deg, it.lat_deg]} if it.has_position else None
    return {"type": "Feature", "properties": props, "geometry": geom}


def dumps_track(mf: MissionFile, path_lonlat: list | None = None) -> str:
    track = path_lonlat if path_lonlat else _track_from_items(mf.items)
    features: list[dict[str, Any]] = []
    if len(track) >= 2:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "track", "alt_agl_m": _cruise_alt(mf.items)},
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in track]},
            }
        )
    features += [_feature(it, "mission") for it in mf.items]
    features += [_feature(it, "fence") for it in mf.fence]
    features += [_feature(it, "rally") for it in mf.rally]
    doc = {
        "type": "FeatureCollection",
        "properties": {"fileType": FILE_TYPE, "version": 1, "vehicle": mf.vehicle, **mf.meta},
        "features": features,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def _cruise_alt(items: list[MissionItem]) -> float | None:
    alts = [it.alt_m for it in items[1:] if it.command in NAV_POSITION_COMMANDS]
    return max(alts) if alts else None


def loads_track(text: str) -> MissionFile:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"track: not valid JSON ({exc})") from None
    props = doc.get("properties") if isinstance(doc, dict) else None
    if not isinstance(props, dict) or props.get("fileType") != FILE_TYPE:
        raise FormatError(
            f"track: properties.fileType must be {FILE_TYPE!r} (a mission written by FieldPatrol);"
            " a site file goes to `patrol site`, not here"
        )
    out: dict[str, list[MissionItem]] = {"mission": [], "fence": [], "rally": []}
    for k, f in enumerate(doc.get("features") or []):
        p = f.get("properties") or {}
        role = p.get("role")
        if role == "track":
            continue
        if role not in out:
            raise FormatError(f"track: features[{k}].properties.role={role!r} is unknown")
        try:
            out[role].append(MissionItem.from_dict(p))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"track: features[{k}] is not a mission item ({exc})") from None
    if not out["mission"]:
        raise FormatError("track: no mission items")
    meta = {k: v for k, v in props.items() if k not in ("fileType", "version", "vehicle")}
    return MissionFile(
        items=out["mission"],
        fence=out["fence"],
        rally=out["rally"],
        vehicle=str(props.get("vehicle", "copter")),
        meta=meta,
    )
