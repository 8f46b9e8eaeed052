"""Independent mission checker: proves a list of mission items stays inside a site.

It knows nothing of the planners: it replays the MAVLink items the way ArduPilot flies them
(straight legs between positions, RTL straight home, takeoff vertical) and tests every
waypoint and every leg against keep-in minus exclusions, and every altitude against the site's
limits. Planned missions go through it, and so do imported ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from missions.items import (
    MAV_CMD_DO_JUMP,
    MAV_CMD_NAV_LAND,
    MAV_CMD_NAV_LOITER_TIME,
    MAV_CMD_NAV_LOITER_TURNS,
    MAV_CMD_NAV_LOITER_UNLIM,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_FRAME_GLOBAL,
    MAV_FRAME_GLOBAL_INT,
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
    MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
    MAV_FRAME_GLOBAL_TERRAIN_ALT,
    MAV_FRAME_MISSION,
    NAV_POSITION_COMMANDS,
    NON_NAV_COMMANDS,
    MissionItem,
)
from missions.site import Site

#: Numerical slack (metres) for points that lie exactly on a boundary.
TOLERANCE_M = 0.05
LOITER_COMMANDS = {MAV_CMD_NAV_LOITER_TURNS, MAV_CMD_NAV_LOITER_UNLIM, MAV_CMD_NAV_LOITER_TIME}
RELATIVE_FRAMES = {
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
    MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
    MAV_FRAME_GLOBAL_TERRAIN_ALT,
}


@dataclass
class CheckReport:
    """ok is True only when no problem was found; problems name the item or leg."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    waypoints_checked: int = 0
    legs_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "waypoints_checked": self.waypoints_checked,
            "legs_checked": self.legs_checked,
        }


def _where_outside(site: Site, geom: shapely.Geometry) -> str:
    """Say why geom is not allowed: which exclusion it enters, or how far it leaves keep-in."""
    reasons = []
    if isinstance(geom, Point):
        d = site.local_keep_in.distance(geom)
        if d > TOLERANCE_M:
            reasons.append(f"is {d:.1f} m outside the keep-in area")
        for k, poly in enumerate(site.local_exclusions):
            if poly.buffer(-TOLERANCE_M).contains(geom):
                reasons.append(f"is inside exclusion zone {site.exclusion_name(k)!r}")
        return "; ".join(reasons) or "is outside the allowed area"
    outside = geom.difference(site.local_keep_in.buffer(TOLERANCE_M))
    if not outside.is_empty:
        size = outside.length if outside.length > 0 else 0.0
        reasons.append(f"leaves the keep-in area ({size:.1f} m outside)")
    if site.local_exclusions:
        excl = np.asarray(site.local_exclusions, dtype=object)
        inner = shapely.buffer(excl, -TOLERANCE_M)
        hits = np.flatnonzero(shapely.intersects(inner, geom))
        for k in hits.tolist():
            part = geom.intersection(site.local_exclusions[k])
            name = site.exclusion_name(k)
            reasons.append(f"enters exclusion zone {name!r} ({part.length:.1f} m)")
    return "; ".join(reasons) or "is outside the allowed area"


def check_mission(site: Site, items: list[MissionItem], vehicle: str = "copter") -> CheckReport:
    """Check mission items (mission_type 0; item 0 = home) against the site."""
    problems: list[str] = []
    mission = [it for it in items if it.mission_type == 0]
    if not mission:
        return CheckReport(False, ["mission: no items"])
    frame = site.frame
    home_item = mission[0]
    # lon/lat now, projected all at once below; index 0 = home
    positions: list[tuple[float, float]] = [(home_item.lon_deg, home_item.lat_deg)]
    pos_labels: list[str] = [f"home (item {home_item.seq})"]
    legs: list[tuple[int, int, str]] = []
    orbit_checks: list[tuple[int, float, str]] = []
    cur = 0
    airborne = vehicle == "rover"
    for it in mission[1:]:
        label = f"item {it.seq} ({it.command_name})"
        if it.command in NON_NAV_COMMANDS:
            continue
        if it.command == MAV_CMD_DO_JUMP:
            problems.append(f"{label}: DO_JUMP is not supported; the checker cannot follow loops")
            continue
        if it.command == MAV_CMD_NAV_RETURN_TO_LAUNCH:
            legs.append((cur, 0, f"{label}: leg from {pos_labels[cur]} straight home"))
            cur = 0
            continue
        if it.command not in NAV_POSITION_COMMANDS:
            problems.append(
                f"{label}: command {it.command} is not known to the checker; "
                "cannot prove where the vehicle goes"
            )
            continue
        if vehicle == "copter":
            if it.frame in RELATIVE_FRAMES:
                if it.command != MAV_CMD_NAV_LAND and not (
                    site.min_alt_m - 1e-6 <= it.alt_m <= site.max_alt_m + 1e-6
                ):
                    problems.append(
                        f"{label}: alt_m={it.alt_m} is outside the site's altitude limits "
                        f"{site.min_alt_m}..{site.max_alt_m} m above launch"
                    )
            elif it.frame in (MAV_FRAME_GLOBAL, MAV_FRAME_GLOBAL_INT):
                problems.append(
                    f"{label}: frame {it.frame} (AMSL) cannot be checked against limits above "
                    "launch; use MAV_FRAME_GLOBAL_RELATIVE_ALT"
                )
            elif it.frame != MAV_FRAME_MISSION:
                problems.append(f"{label}: frame {it.frame} is not supported")
        if it.command == MAV_CMD_NAV_TAKEOFF:
            airborne = True
            continue  # ArduPilot takes off vertically over the current position
        if not it.has_position:
            continue  # holds or lands where it is
        if not airborne and vehicle == "copter":
            problems.append(f"{label}: flies to a position before any TAKEOFF")
            airborne = True
        positions.append((it.lon_deg, it.lat_deg))
        pos_labels.append(label)
        nxt = len(positions) - 1
        legs.append((cur, nxt, f"leg {pos_labels[cur]} -> {label}"))
        if it.command in LOITER_COMMANDS:
            radius = abs(it.param3)  # param3 is the orbit radius for all three loiters
            if radius > 0:
                orbit_checks.append((nxt, radius, label))
        cur = nxt

    allowed = site.local_allowed.buffer(TOLERANCE_M)
    shapely.prepare(allowed)
    ll = np.asarray(positions, dtype=float)
    xy = np.column_stack(frame.to_local(ll[:, 0], ll[:, 1]))
    pts = shapely.points(xy)
    inside = np.asarray(shapely.covers(allowed, pts))
    for k in np.flatnonzero(~inside).tolist():
        problems.append(f"{pos_labels[k]}: position {_where_outside(site, Point(xy[k]))}")
    legs_checked = 0
    if legs:
        a = np.asarray([xy[i] for i, _, _ in legs])
        b = np.asarray([xy[j] for _, j, _ in legs])
        moving = np.hypot(*(b - a).T) > 1e-6
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        ok = np.asarray(shapely.covers(allowed, lines)) | ~moving
        legs_checked = int(moving.sum())
        for k in np.flatnonzero(~ok).tolist():
            problems.append(f"{legs[k][2]}: {_where_outside(site, LineString([a[k], b[k]]))}")
    for k, radius, label in orbit_checks:
        ring = Point(xy[k]).buffer(radius).exterior
        if not allowed.covers(ring):
            problems.append(f"{label}: orbit of radius {radius} m {_where_outside(site, ring)}")
    return CheckReport(
        ok=not problems,
        problems=problems,
        waypoints_checked=len(positions),
        legs_checked=legs_checked,
    )
