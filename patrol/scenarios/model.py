"""A loaded, checked scenario: what the runner flies and what the expectations judge.

Everything here is plain data built by :func:`patrol.scenarios.loader.load_scenario` after
the file passed its schema and the checks a schema cannot make; the plans are already
computed (the loader needs their durations to check the timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Defaults the schema documents.
DEFAULT_SPEEDUP = {"builtin": 100.0, "sitl": 10.0}
#: Wall-clock limit of a run; SITL boots the autopilot first and flies at a lower speed-up.
DEFAULT_TIMEOUT_S = {"builtin": 120.0, "sitl": 600.0}
DEFAULT_FOUND_WITHIN_M = 10.0


@dataclass(frozen=True)
class VehicleSpec:
    id: str
    kind: str  # copter | rover
    backend: str  # builtin | sitl
    speedup: float
    params: dict[str, float] = field(default_factory=dict)
    sysid: int = 1


@dataclass(frozen=True)
class PlantedSpec:
    """One explicitly planted object (a violation or a distractor) at a place."""

    id: str
    class_name: str
    lon: float
    lat: float
    heading_deg: float | None = None
    length_m: float | None = None
    width_m: float | None = None


@dataclass(frozen=True)
class WorldSpec:
    seed: int
    violations: int
    distractors: int
    classes: tuple[str, ...] | None
    planted: tuple[PlantedSpec, ...] = ()


@dataclass(frozen=True)
class MissionSpec:
    pattern: str  # survey | perimeter | file
    file: Path | None = None
    altitude_agl_m: float | None = None
    speed_m_s: float | None = None
    angle_deg: float | None = None
    margin_m: float | None = None
    inset_m: float | None = None
    trigger_distance_m: float | None = None
    front_overlap: float | None = None
    side_overlap: float | None = None
    area: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class TimelineEvent:
    """One fault: at a simulated time after arming, or when a condition first holds."""

    index: int
    fault: str
    args: dict[str, Any]
    vehicle: str
    at_s: float | None = None
    when: tuple[str, Any] | None = None  # (condition, value)

    @property
    def key(self) -> str:
        return f"timeline[{self.index}]"

    @property
    def trigger(self) -> str:
        if self.at_s is not None:
            return f"t={self.at_s:g} s"
        assert self.when is not None
        return f"{self.when[0]}={self.when[1]}"


@dataclass(frozen=True)
class Expectation:
    index: int
    kind: str
    args: dict[str, Any]

    @property
    def key(self) -> str:
        return f"expect[{self.index}].{self.kind}"


@dataclass
class PlannedSortie:
    """What one vehicle will fly: the mission, fence and rally items and the planned path."""

    vehicle: VehicleSpec
    items: list[Any]
    fence: list[Any]
    rally: list[Any]
    path_lonlat: list[tuple[float, float]]
    duration_s: float
    plan: Any = None  # missions.plan.MissionPlan (for a mission file: built from the file)


@dataclass
class Scenario:
    path: Path
    name: str
    description: str
    site_path: Path
    site: Any  # missions.site.Site
    seed: int
    backend: str
    timeout_s: float
    vehicles: list[VehicleSpec]
    world: WorldSpec
    mission: MissionSpec
    timeline: list[TimelineEvent]
    expectations: list[Expectation]
    sorties: dict[str, PlannedSortie] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def slug(self) -> str:
        return self.path.stem

    def vehicle(self, vehicle_id: str) -> VehicleSpec:
        for v in self.vehicles:
            if v.id == vehicle_id:
                return v
        raise KeyError(vehicle_id)
