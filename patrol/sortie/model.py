"""What a sortie is: its spec (`SortieSpec`), its events (`SortieEvent`), its result
(`SortieResult`, saved as `reports/<sortie>/sortie.json`), its statuses and ids."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patrol.sortie.run import SortieRun

#: A progress callback: (stage, completed, total or None, message).
Progress = Callable[[str, float, float | None, str], None]
#: The pre-arm hook (`SortieSpec.preflight`): called with the connected vehicle
#: (`telemetry.link.Vehicle`; None when the vehicle did not connect, `run.connect_error` says
#: why) and the run, before anything is uploaded or armed; returns the gate results (objects
#: with `gate`, `ok`, `detail`, or dicts with those keys). Any failed gate ends the sortie
#: "blocked": nothing armed, nothing flown.
Preflight = Callable[[Any, "SortieRun"], Awaitable[list[Any]]]

FINAL_STATUSES = ("completed", "aborted", "lost", "failed", "blocked")
ANOMALY_KINDS = ("fence_breach", "failsafe", "link_lost", "link_regained")
PATTERNS = ("survey", "perimeter")
KINDS = ("copter", "rover")


class SortieError(ValueError):
    """A sortie could not be prepared or run; the message says what failed and what to do."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_sortie_id() -> str:
    return f"S-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def new_mission_id() -> str:
    return f"M-{uuid.uuid4().hex[:10]}"


def default_camera() -> Any:
    """The default camera's optics at 640x480: the detector's input size, so rendering a
    full-resolution frame only to shrink it again is skipped."""
    from missions.camera import CameraModel

    return dataclasses.replace(CameraModel.default(), image_width_px=640, image_height_px=480)


@dataclass
class SortieSpec:
    """What one sortie flies, with what, where."""

    site: Any  # missions.site.Site, or a path to its GeoJSON file
    vehicle_kind: str = "copter"
    vehicle_id: str | None = None  # default: Ground.default_vehicle_id(kind)
    plan: Any = None  # missions.plan.MissionPlan; None: plan `pattern` over the site
    pattern: str = "survey"
    altitude_agl_m: float = 50.0
    plan_options: dict[str, Any] = field(default_factory=dict)
    mission_id: str | None = None
    sortie_id: str | None = None
    world: Any = None  # simulators.world World; None: generate_world(site, seed) when vision
    seed: int = 7
    backend: str = "builtin"
    #: The ArduPilot SITL binary (backend "sitl"); only `patrol` reads FIELDPATROL_SITL_*.
    sitl_binary: str | None = None
    speedup: float = 25.0
    home_amsl_m: float = 42.0
    sim_params: dict[str, float] | None = None
    sysid: int = 1
    vision: bool = True
    camera: Any = None  # missions.camera.CameraModel; default: default_camera()
    flight_timeout_s: float = 900.0
    #: Heartbeats missing this long (wall clock) and the vehicle is declared lost.
    lost_after_s: float = 10.0
    link_timeout_s: float = 3.0
    ingest_timeout_s: float = 60.0
    #: The sortie whose unflown part this one re-flies (fleet re-planning).
    replans: str | None = None
    #: The survey legs (first, last index in the site's survey layout for these
    #: `plan_options`) this plan flies; set for surveys, used to re-plan an unflown part.
    survey_legs: tuple[int, int] | None = None
    save_ground_truth: bool = True
    #: Gates checked on the connected vehicle before anything is uploaded or armed (the
    #: scheduler's preflight gates); None: no gates.
    preflight: Preflight | None = None


@dataclass
class SortieEvent:
    """Something that happened during a sortie, timestamped UTC."""

    time: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "kind": self.kind, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SortieEvent:
        return cls(datetime.fromisoformat(data["time"]), data["kind"], dict(data.get("detail", {})))


@dataclass
class SortieResult:
    """What a sortie was: everything the report, the fleet and the demo need."""

    sortie_id: str
    mission_id: str
    site_id: str
    vehicle_id: str
    vehicle_kind: str
    pattern: str
    status: str = "planned"
    reason: str = ""
    replans: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    flight_time_s: float = 0.0
    distance_m: float = 0.0
    waypoints: int = 0
    last_reached_seq: int = -1
    mission_finished: bool = False
    #: [iso time, lat, lon, alt_agl_m] of every position sample while armed.
    track: list[list[Any]] = field(default_factory=list)
    #: CameraPose dicts of every CAMERA_FEEDBACK (the real poses the frames were taken at).
    captures: list[dict[str, Any]] = field(default_factory=list)
    #: The ground footprint (closed lon/lat ring) of each capture, same order.
    footprints: list[list[list[float]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    detections: int = 0
    unlocated: int = 0
    discarded_too_small: int = 0
    suspects: list[dict[str, Any]] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    tlog: str = ""
    tlog_sha256: str = ""
    report_dir: str = ""
    plan_summary: dict[str, Any] = field(default_factory=dict)
    survey_legs: list[int] | None = None
    #: Sequence number of the last waypoint of each survey leg (a leg is flown once reached).
    leg_end_seqs: list[int] = field(default_factory=list)
    altitude_agl_m: float = 0.0
    camera: dict[str, Any] = field(default_factory=dict)
    #: The pre-arm gates (`SortieSpec.preflight`) as {gate, ok, detail}, in order.
    gates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SortieResult:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def anomalies(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in ANOMALY_KINDS]


def load_result(settings: Any, sortie_id: str) -> SortieResult:
    """The saved result of a sortie flown from this data directory."""
    path = settings.reports_dir / sortie_id / "sortie.json"
    if not path.is_file():
        raise SortieError(
            f"sortie {sortie_id!r} has no record under {settings.reports_dir}; "
            "list the sorties with `patrol fleet status`"
        )
    return SortieResult.load(path)
