"""QGroundControl ``.plan`` files (JSON): mission, geoFence and rallyPoints sections.

Export writes SimpleItems (params as [p1, p2, p3, p4, lat, lon, alt]), the fence as inclusion
and exclusion polygons and circles with the breach return point, and rally points. Import also
expands complex items (survey, corridor scan) from the items QGroundControl stores with them;
a complex item without stored items is refused with a clear message.
"""

from __future__ import annotations

import json
import math
from typing import Any

from missions.errors import FormatError
from missions.fence import polygons_from_fence
from missions.formats import MissionFile
from missions.items import (
    MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
    MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_FENCE_RETURN_POINT,
    MAV_CMD_NAV_RALLY_POINT,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
    MissionItem,
    renumber,
)

MAV_AUTOPILOT_ARDUPILOTMEGA = 3
VEHICLE_TYPES = {"copter": 2, "rover": 10}  # MAV_TYPE_QUADROTOR, MAV_TYPE_GROUND_ROVER
ALTITUDE_MODE_RELATIVE = 1


def _p(v: float) -> float | None:
    return None if math.isnan(v) else v


def _f(v: Any) -> float:
    return math.nan if v is None else float(v)


def _simple(it: MissionItem, jump_id: int) -> dict[str, Any]:
    return {
        "AMSLAltAboveTerrain": None,
        "Altitude": it.alt_m,
        "AltitudeMode": ALTITUDE_MODE_RELATIVE,
        "autoContinue": bool(it.autocontinue),
        "command": it.command,
        "doJumpId": jump_id,
        "frame": it.frame,
        "params": [
            _p(it.param1),
            _p(it.param2),
            _p(it.param3),
            _p(it.param4),
            it.lat_deg,
            it.lon_deg,
            it.alt_m,
        ],
        "type": "SimpleItem",
    }


def dumps_plan(mf: MissionFile) -> str:
    if not mf.items:
        raise FormatError("plan: a mission needs at least the home item")
    home = mf.items[0]
    inclusions, exclusions, circles = polygons_from_fence(mf.fence)
    ret = next((it for it in mf.fence if it.command == MAV_CMD_NAV_FENCE_RETURN_POINT), None)
    speed = float(mf.meta.get("cruise_speed_m_s") or 10.0)
    doc: dict[str, Any] = {
        "fileType": "Plan",
        "groundStation": "FieldPatrol",
        "version": 1,
        "mission": {
            "version": 2,
            "firmwareType": MAV_AUTOPILOT_ARDUPILOTMEGA,
            "vehicleType": VEHICLE_TYPES.get(mf.vehicle, 2),
            "cruiseSpeed": speed,
            "hoverSpeed": speed,
            "globalPlanAltitudeMode": ALTITUDE_MODE_RELATIVE,
            "plannedHomePosition": [home.lat_deg, home.lon_deg, home.alt_m],
            "items": [_simple(it, k) for k, it in enumerate(mf.items[1:], start=1)],
        },
        "geoFence": {
            "version": 2,
            "polygons": [
                {"inclusion": True, "polygon": [[lat, lon] for lon, lat in ring], "version": 1}
                for ring in inclusions
            ]
            + [
                {"inclusion": False, "polygon": [[lat, lon] for lon, lat in ring], "version": 1}
                for ring in exclusions
            ],
            "circles": [
                {
                    "circle": {"center": [lat, lon], "radius": radius},
                    "inclusion": inclusion,
                    "version": 1,
                }
                for lon, lat, radius, inclusion in circles
            ],
        },
        "rallyPoints": {
            "version": 2,
            "points": [[it.lat_deg, it.lon_deg, it.alt_m] for it in mf.rally],
        },
    }
    if ret is not None:
        doc["geoFence"]["breachReturn"] = [ret.lat_deg, ret.lon_deg, ret.alt_m]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _item_from_simple(d: dict[str, Any], where: str) -> MissionItem:
    try:
        params = d["params"]
        if not isinstance(params, list) or len(params) != 7:
            raise FormatError(f"{where}: 'params' must be a list of 7 numbers")
        return MissionItem(
            seq=0,
            frame=int(d.get("frame", MAV_FRAME_GLOBAL_RELATIVE_ALT)),
            command=int(d["command"]),
            current=0,
            autocontinue=1 if d.get("autoContinue", True) else 0,
            param1=_f(params[0]),
            param2=_f(params[1]),
            param3=_f(params[2]),
            param4=_f(params[3]),
            lat_deg=_f(params[4]) if params[4] is not None else 0.0,
            lon_deg=_f(params[5]) if params[5] is not None else 0.0,
            alt_m=_f(params[6]) if params[6] is not None else 0.0,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{where}: malformed SimpleItem ({exc})") from None


def _expand(items: list[Any], where: str, notes: list[str]) -> list[MissionItem]:
    out: list[MissionItem] = []
    for k, d in enumerate(items):
        here = f"{where}[{k}]"
        if not isinstance(d, dict):
            raise FormatError(f"{here}: must be an object")
        kind = d.get("type")
        if kind == "SimpleItem":
            out.append(_item_from_simple(d, here))
        elif kind == "ComplexItem":
            ctype = d.get("complexItemType", "?")
            stored = (d.get("TransectStyleComplexItem") or {}).get("Items")
            if not isinstance(stored, list) or not stored:
                raise FormatError(
                    f"{here}: complex item {ctype!r} has no generated items to expand; open the "
                    "file in QGroundControl and save it again, or plan the area with "
                    "`patrol mission plan`"
                )
            notes.append(f"{here}: complex item {ctype!r} expanded to {len(stored)} items")
            out.extend(_expand(stored, f"{here}.Items", notes))
        else:
            raise FormatError(f"{here}: item type {kind!r} is not SimpleItem or ComplexItem")
    return out


def loads_plan(text: str) -> MissionFile:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"plan: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise FormatError("plan: fileType must be 'Plan' (a QGroundControl .plan file)")
    mission = doc.get("mission") or {}
    home = mission.get("plannedHomePosition")
    if not isinstance(home, list) or len(home) < 3:
        raise FormatError("plan: mission.plannedHomePosition must be [lat, lon, alt]")
    notes: list[str] = []
    body = _expand(mission.get("items") or [], "mission.items", notes)
    home_item = MissionItem(
        0, MAV_FRAME_GLOBAL, MAV_CMD_NAV_WAYPOINT, 1, 1, 0.0, 0.0, 0.0, 0.0,
        float(home[0]), float(home[1]), float(home[2] or 0.0),
    )  # fmt: skip
    vtype = mission.get("vehicleType", 2)
    vehicle = "rover" if vtype == 10 else "copter"
    fence: list[MissionItem] = []
    gf = doc.get("geoFence") or {}
    ret = gf.get("breachReturn")
    fkw: dict[str, Any] = {"frame": MAV_FRAME_GLOBAL, "mission_type": 1}
    if isinstance(ret, list) and len(ret) >= 2 and not (ret[0] == 0 and ret[1] == 0):
        fence.append(_fitem(MAV_CMD_NAV_FENCE_RETURN_POINT, ret[0], ret[1], 0.0, **fkw))
    for k, poly in enumerate(gf.get("polygons") or []):
        ring = poly.get("polygon") if isinstance(poly, dict) else None
        if not isinstance(ring, list) or len(ring) < 3:
            raise FormatError(f"plan: geoFence.polygons[{k}] needs at least 3 [lat, lon] points")
        cmd = (
            MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if poly.get("inclusion", True)
            else MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        fence.extend(_fitem(cmd, lat, lon, float(len(ring)), **fkw) for lat, lon in ring)
    for k, c in enumerate(gf.get("circles") or []):
        try:
            lat, lon = c["circle"]["center"]
            radius = float(c["circle"]["radius"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"plan: geoFence.circles[{k}] is malformed") from None
        cmd = (
            MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
            if c.get("inclusion", True)
            else MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
        )
        fence.append(_fitem(cmd, lat, lon, radius, **fkw))
    rally = [
        _fitem(
            MAV_CMD_NAV_RALLY_POINT, p[0], p[1], 0.0, alt=float(p[2]) if len(p) > 2 else 0.0,
            frame=MAV_FRAME_GLOBAL_RELATIVE_ALT, mission_type=2,
        )
        for p in (doc.get("rallyPoints") or {}).get("points") or []
    ]  # fmt: skip
    return MissionFile(
        items=renumber([home_item, *body]),
        fence=renumber(fence),
        rally=renumber(rally),
        vehicle=vehicle,
        meta={"cruise_speed_m_s": mission.get("cruiseSpeed")},
        notes=notes,
    )


def _fitem(
    command: int,
    lat: float,
    lon: float,
    param1: float,
    alt: float = 0.0,
    frame: int = MAV_FRAME_GLOBAL,
    mission_type: int = 1,
) -> MissionItem:
    return MissionItem(
        0, frame, command, 0, 1, float(param1), 0.0, 0.0, 0.0, float(lat), float(lon), alt,
        mission_type,
    )  # fmt: skip
