"""A planned mission: MAVLink items for mission, fence and rally, the flown path and estimates."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from missions.items import (
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    MissionItem,
    make_item,
    renumber,
)

if TYPE_CHECKING:
    from missions.check import CheckReport


@dataclass(frozen=True)
class PlanEstimates:
    """What the plan costs: flown distance, time, photos, coverage, turns, waypoint count."""

    distance_m: float
    duration_s: float
    photos: int
    coverage_pct: float
    turns: int
    waypoints: int
    battery_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MissionPlan:
    """Everything needed to fly a plan and to show or check it."""

    items: list[MissionItem]
    fence: list[MissionItem]
    rally: list[MissionItem]
    estimates: PlanEstimates
    path_lonlat: list[tuple[float, float]]
    altitude_agl_m: float
    trigger_distance_m: float
    vehicle: str
    pattern: str = "survey"
    site_id: str = ""
    angle_deg: float | None = None
    line_spacing_m: float | None = None
    warnings: list[str] = field(default_factory=list)
    check: CheckReport | None = None

    def summary(self) -> dict[str, Any]:
        """The figures a user or script wants (the `--json` output of `patrol mission plan`)."""
        out: dict[str, Any] = {
            "site_id": self.site_id,
            "pattern": self.pattern,
            "vehicle": self.vehicle,
            "altitude_agl_m": self.altitude_agl_m,
            "trigger_distance_m": round(self.trigger_distance_m, 3),
            "angle_deg": None if self.angle_deg is None else round(self.angle_deg, 2),
            "line_spacing_m": (
                None if self.line_spacing_m is None else round(self.line_spacing_m, 3)
            ),
            "mission_items": len(self.items),
            "fence_items": len(self.fence),
            "rally_items": len(self.rally),
            **self.estimates.to_dict(),
            "valid": bool(self.check.ok) if self.check is not None else None,
            "problems": list(self.check.problems) if self.check is not None else [],
            "warnings": list(self.warnings),
        }
        out["distance_m"] = round(out["distance_m"], 1)
        out["duration_s"] = round(out["duration_s"], 1)
        out["coverage_pct"] = round(out["coverage_pct"], 2)
        return out


@dataclass(frozen=True)
class VehicleProfile:
    """Performance figures the estimates use; endurance None disables the refusal."""

    kind: str
    cruise_m_s: float
    climb_m_s: float
    descent_m_s: float
    turn_s: float
    endurance_s: float | None
    reserve: float = 0.2

    def with_endurance(self, endurance_s: float | None, reserve: float | None) -> VehicleProfile:
        """This profile with another endurance (seconds) and/or reserve (0..0.9)."""
        from dataclasses import replace

        from missions.errors import PlanError

        if endurance_s is not None and not (endurance_s > 0 and math.isfinite(endurance_s)):
            raise PlanError(f"endurance={endurance_s!r} must be a positive duration")
        if reserve is not None and not (0.0 <= reserve < 0.9):
            raise PlanError(f"reserve={reserve!r} must be a fraction in [0, 0.9)")
        return replace(
            self,
            endurance_s=self.endurance_s if endurance_s is None else endurance_s,
            reserve=self.reserve if reserve is None else reserve,
        )

    @classmethod
    def for_kind(cls, kind: str) -> VehicleProfile:
        if kind == "copter":
            # A small survey quad: 25 min on a pack, keeping 20 % for the landing and wind.
            return cls("copter", 10.0, 2.5, 1.5, 4.0, 25 * 60.0)
        if kind == "rover":
            return cls("rover", 2.0, 0.0, 0.0, 3.0, 3 * 3600.0)
        from missions.errors import PlanError

        raise PlanError(f"vehicle={kind!r} must be 'copter' or 'rover'")


def path_length(xy: np.ndarray) -> float:
    if len(xy) < 2:
        return 0.0
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())


def count_turns(xy: np.ndarray, min_deg: float = 20.0) -> int:
    """Heading changes larger than min_deg along a polyline (duplicate points ignored)."""
    if len(xy) < 3:
        return 0
    d = np.diff(xy, axis=0)
    d = d[np.hypot(*d.T) > 1e-6]
    if len(d) < 2:
        return 0
    h = np.arctan2(d[:, 1], d[:, 0])
    dh = np.abs((np.diff(h) + math.pi) % (2 * math.pi) - math.pi)
    return int((dh > math.radians(min_deg)).sum())


def estimate(
    xy: np.ndarray,
    profile: VehicleProfile,
    altitude_agl_m: float,
    speed_m_s: float,
    photos: int,
    coverage_pct: float,
    waypoints: int,
    hold_s: float = 0.0,
) -> PlanEstimates:
    """Distance (horizontal + climb + descent), duration (cruise, turns, climb, holds)."""
    horizontal = path_length(xy)
    turns = count_turns(xy)
    vertical = 2.0 * altitude_agl_m if profile.kind == "copter" else 0.0
    duration = horizontal / speed_m_s + turns * profile.turn_s + hold_s
    if profile.kind == "copter":
        duration += altitude_agl_m / profile.climb_m_s + altitude_agl_m / profile.descent_m_s
    battery = None
    if profile.endurance_s:
        battery = round(100.0 * duration / profile.endurance_s, 1)
    return PlanEstimates(
        distance_m=horizontal + vertical,
        duration_s=duration,
        photos=photos,
        coverage_pct=coverage_pct,
        turns=turns,
        waypoints=waypoints,
        battery_pct=battery,
    )


def check_endurance(est: PlanEstimates, profile: VehicleProfile) -> None:
    """Refuse a plan longer than the endurance minus the reserve, saying by how much."""
    if profile.endurance_s is None:
        return
    usable = profile.endurance_s * (1.0 - profile.reserve)
    if est.duration_s > usable:
        from missions.errors import PlanError

        over = est.duration_s - usable
        raise PlanError(
            f"plan duration {est.duration_s / 60:.1f} min exceeds the {profile.kind}'s usable "
            f"endurance {usable / 60:.1f} min ({profile.endurance_s / 60:.0f} min with "
            f"{profile.reserve:.0%} reserve) by {over / 60:.1f} min; split the area "
            "(several vehicles or sorties) or raise the altitude"
        )


def build_items(
    home_lonlat: tuple[float, float],
    body: list[MissionItem],
    altitude_agl_m: float,
    vehicle: str,
) -> list[MissionItem]:
    """Home (item 0), takeoff for copters, the body, and RTL; renumbered."""
    home = make_item(
        MAV_CMD_NAV_WAYPOINT, home_lonlat[0], home_lonlat[1], 0.0, frame=MAV_FRAME_GLOBAL
    )
    head = [home]
    if vehicle == "copter":
        head.append(make_item(MAV_CMD_NAV_TAKEOFF, home_lonlat[0], home_lonlat[1], altitude_agl_m))
    tail = [make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH)]
    return renumber(head + body + tail)


def waypoint(lon: float, lat: float, alt_m: float, hold_s: float = 0.0) -> MissionItem:
    return make_item(MAV_CMD_NAV_WAYPOINT, lon, lat, alt_m, params=(hold_s, 0.0, 0.0, 0.0))
