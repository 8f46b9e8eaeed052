"""Mission files: QGroundControl ``.plan``, Mission Planner ``.waypoints`` (QGC WPL 110) and a
GeoJSON track. The file extension picks the format; every round trip is lossless."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from missions.errors import FormatError
from missions.items import MissionItem

FORMATS = {
    ".plan": "qgc",
    ".waypoints": "wpl",
    ".txt": "wpl",
    ".geojson": "track",
    ".json": "track",
}


@dataclass
class MissionFile:
    """The contents of a mission file: mission items (item 0 = home), fence and rally items."""

    items: list[MissionItem]
    fence: list[MissionItem] = field(default_factory=list)
    rally: list[MissionItem] = field(default_factory=list)
    vehicle: str = "copter"
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _kind(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FormatError(
            f"file {str(path)!r}: extension {path.suffix!r} is not a mission format; "
            "use .plan, .waypoints or .geojson"
        )
    return kind


def dumps_mission(mf: MissionFile, kind: str, path_lonlat: list | None = None) -> str:
    if kind == "qgc":
        from missions.formats.qgc import dumps_plan

        return dumps_plan(mf)
    if kind == "wpl":
        from missions.formats.wpl import dumps_wpl

        return dumps_wpl(mf.items)
    from missions.formats.track import dumps_track

    return dumps_track(mf, path_lonlat)


def loads_mission(text: str, kind: str) -> MissionFile:
    if kind == "qgc":
        from missions.formats.qgc import loads_plan

        return loads_plan(text)
    if kind == "wpl":
        from missions.formats.wpl import loads_wpl

        return MissionFile(items=loads_wpl(text))
    from missions.formats.track import loads_track

    return loads_track(text)


def save_mission(path: str | Path, mf: MissionFile, path_lonlat: list | None = None) -> Path:
    """Write mf in the format named by the extension of path."""
    p = Path(path)
    text = dumps_mission(mf, _kind(p), path_lonlat)
    if p.suffix.lower() in (".waypoints", ".txt") and (mf.fence or mf.rally):
        mf.notes.append("the .waypoints format holds the mission only; fence and rally dropped")
    p.write_text(text, encoding="utf-8")
    return p


def load_mission(path: str | Path) -> MissionFile:
    """Read a mission file; the extension picks the format."""
    p = Path(path)
    kind = _kind(p)
    if not p.is_file():
        raise FormatError(f"mission file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"mission file {str(p)!r} is not UTF-8 text") from None
    return loads_mission(text, kind)


def plan_to_file(plan: Any) -> MissionFile:
    """A :class:`missions.plan.MissionPlan` as a MissionFile."""
    return MissionFile(
        items=list(plan.items),
        fence=list(plan.fence),
        rally=list(plan.rally),
        vehicle=plan.vehicle,
        meta={"cruise_speed_m_s": getattr(plan, "speed_m_s", None) or 10.0},
    )
