"""What a scenario run measured: the facts the expectations judge and the report shows.

The runner fills a :class:`RunRecord` while it flies; nothing here talks to a vehicle, so
the expectations and the reports can be tested on records built by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from patrol.sortie.planning import haversine_m


@dataclass
class Entry:
    """One line of the event timeline: simulated seconds after the first arming."""

    t_s: float
    vehicle: str
    kind: str  # fault, mode, failsafe, fence_breach, armed, landed, mission_finished, ...
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Suspect:
    vehicle: str
    class_name: str
    lat: float
    lon: float
    confidence: float


@dataclass
class Planted:
    id: str
    class_name: str
    lat: float
    lon: float
    is_violation: bool


@dataclass
class VehicleRecord:
    id: str
    kind: str
    backend: str
    #: Flown track: (t_s, lon, lat) as the vehicle reported its position.
    track: list[tuple[float, float, float]] = field(default_factory=list)
    planned_path: list[tuple[float, float]] = field(default_factory=list)
    armed_at_s: float | None = None
    landed_at_s: float | None = None
    mission_finished: bool = False
    failsafe_at_s: float | None = None
    failsafe_reason: str = ""
    fence_breaches: int = 0
    frames: int = 0
    error: str = ""

    @property
    def flew(self) -> bool:
        return self.armed_at_s is not None


@dataclass
class RunRecord:
    scenario: str
    backend: str
    seed: int
    vehicles: dict[str, VehicleRecord] = field(default_factory=dict)
    planted: list[Planted] = field(default_factory=list)
    suspects: list[Suspect] = field(default_factory=list)
    evidence_submitted: int = 0
    evidence_stored: int = 0
    cases_opened: int = 0
    audit_ok: bool | None = None
    audit_entries: int = 0
    timeline: list[Entry] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    error: str = ""

    def note(self, t_s: float, vehicle: str, kind: str, text: str) -> None:
        self.timeline.append(Entry(round(t_s, 1), vehicle, kind, text))

    @property
    def violations(self) -> list[Planted]:
        return [p for p in self.planted if p.is_violation]


def ground_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    return haversine_m(lat1, lon1, lat2, lon2)
