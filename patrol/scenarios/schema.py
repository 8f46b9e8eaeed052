"""The JSON Schema of a scenario file, as published in ``docs/schemas/scenario.schema.json``.

The schema is written here as data so that the loader and the published file can never
disagree; regenerate the file with ``python -m patrol.scenarios.schema docs/schemas`` (a test
checks that the committed file matches). What a schema cannot say (a fault after the end of
the mission, a planted object outside the site, a SITL binary that is missing) is checked by
:mod:`patrol.scenarios.loader` after the schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from simulators.world import DISTRACTOR_KINDS, VIOLATION_KINDS

SCHEMA_VERSION = 1
SCHEMA_ID = f"https://fieldpatrol.example/schemas/v{SCHEMA_VERSION}/scenario.json"

BACKENDS = ("builtin", "sitl")
KINDS = ("copter", "rover")
PATTERNS = ("survey", "perimeter", "file")
FAULTS = (
    "link_loss",
    "gps_loss",
    "low_battery",
    "wind",
    "motor_failure",
    "fence_breach",
    "broker_restart",
    "gateway_restart",
)
EXPECTATIONS = (
    "planted_found",
    "false_suspects",
    "inside_fence",
    "lands_after_failsafe",
    "evidence",
    "cases_opened",
    "audit_verifies",
    "outcome",
)
OUTCOMES = ("completed", "aborted")
COPTER_MODES_SEEN = ("AUTO", "GUIDED", "RTL", "LAND", "LOITER", "BRAKE", "HOLD", "SMART_RTL")

_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"}
_NUM = {"type": "number"}
_LONLAT = {
    "type": "array",
    "description": "[longitude, latitude] in degrees (GeoJSON order)",
    "prefixItems": [
        {"type": "number", "minimum": -180, "maximum": 180},
        {"type": "number", "minimum": -90, "maximum": 90},
    ],
    "minItems": 2,
    "maxItems": 2,
}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        doc["required"] = list(required)
    doc.update(extra)
    return doc


def _range(key_min: str = "min", key_max: str = "max") -> dict[str, Any]:
    return _obj(
        {
            key_min: {"type": "integer", "minimum": 0},
            key_max: {"type": "integer", "minimum": 0},
        },
        minProperties=1,
    )


_VEHICLE = _obj(
    {
        "id": {**_ID, "description": "Vehicle id (also its MQTT and evidence id)."},
        "kind": {"enum": list(KINDS)},
        "backend": {
            "enum": list(BACKENDS),
            "description": "Overrides the scenario's backend for this vehicle.",
        },
        "speedup": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1000,
            "description": "Simulation speed-up (default 100 on builtin, 10 on SITL).",
        },
        "params": {
            "type": "object",
            "description": "ArduPilot parameters set before the flight, NAME: value.",
            "propertyNames": {"pattern": "^[A-Z][A-Z0-9_]{0,15}$"},
            "additionalProperties": {"type": "number"},
        },
    },
    ("id", "kind"),
)

_PLANTED = _obj(
    {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "class": {"enum": [*VIOLATION_KINDS, *DISTRACTOR_KINDS]},
        "at": _LONLAT,
        "heading_deg": {"type": "number", "minimum": 0, "maximum": 360},
        "length_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 80},
        "width_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 80},
    },
    ("class", "at"),
)

_WORLD = _obj(
    {
        "seed": {"type": "integer", "description": "Default: the scenario's seed."},
        "violations": {
            "type": "integer",
            "minimum": 0,
            "maximum": 40,
            "description": "Seeded random violations (default 4, or 0 with `planted`).",
        },
        "distractors": {
            "type": "integer",
            "minimum": 0,
            "maximum": 60,
            "description": "Seeded random distractors (default 6, or 0 with `planted`).",
        },
        "classes": {
            "type": "array",
            "items": {"enum": list(VIOLATION_KINDS)},
            "minItems": 1,
            "uniqueItems": True,
        },
        "planted": {
            "type": "array",
            "items": _PLANTED,
            "maxItems": 60,
            "description": "Explicit violations and distractors, each at [lon, lat].",
        },
    }
)

_MISSION = _obj(
    {
        "pattern": {"enum": list(PATTERNS)},
        "file": {
            "type": "string",
            "description": "A QGC .plan or .waypoints file (pattern: file), relative to "
            "the scenario file.",
        },
        "altitude_agl_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
        "speed_m_s": {"type": "number", "minimum": 0.1, "maximum": 30},
        "angle_deg": {"type": "number", "minimum": -360, "maximum": 360},
        "margin_m": {"type": "number", "minimum": 0, "maximum": 500},
        "inset_m": {"type": "number", "minimum": 0.5, "maximum": 500},
        "trigger_distance_m": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 500,
            "description": "Perimeter: distance between photos (default: half a frame; "
            "5 m for a rover).",
        },
        "front_overlap": {"type": "number", "minimum": 0, "maximum": 0.94},
        "side_overlap": {"type": "number", "minimum": 0, "maximum": 0.94},
        "area": {
            "type": "array",
            "description": "Survey only this block of the site: a ring of [lon, lat]; the "
            "fence uploaded is still the whole site's.",
            "items": _LONLAT,
            "minItems": 3,
        },
    },
    ("pattern",),
)

_WHEN = _obj(
    {
        "progress": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "Fraction of the mission items reached.",
        },
        "waypoint": {"type": "integer", "minimum": 1, "description": "Mission item reached."},
        "mode": {"enum": list(COPTER_MODES_SEEN), "description": "The vehicle entered mode."},
        "evidence_submitted": {
            "type": "integer",
            "minimum": 1,
            "description": "This many evidence items handed to the vehicle's outbox.",
        },
    },
    minProperties=1,
    maxProperties=1,
)

_FAULT_BODIES: dict[str, dict[str, Any]] = {
    "link_loss": _obj(
        {"duration_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}},
        ("duration_s",),
    ),
    "gps_loss": _obj({"duration_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}}),
    "low_battery": _obj({"remaining_pct": {"type": "number", "minimum": 0, "maximum": 100}}),
    "wind": _obj(
        {
            "speed_m_s": {"type": "number", "minimum": 0, "maximum": 40},
            "from_deg": {"type": "number", "minimum": 0, "maximum": 360},
            "turbulence_m_s": {"type": "number", "minimum": 0, "maximum": 20},
        },
        ("speed_m_s",),
    ),
    "motor_failure": _obj({}),
    "fence_breach": _obj(
        {
            "target": {
                **_LONLAT,
                "description": "A GUIDED goto to this point: outside the fence (ArduPilot "
                "refuses such a destination), or inside it with `via`.",
            },
            "via": {
                **_LONLAT,
                "description": "First a goto to this point inside the site; then the straight "
                "leg to `target` must cross an exclusion zone or leave the keep-in area.",
            },
            "alt_agl_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
        },
        ("target",),
    ),
    "broker_restart": _obj({"down_s": {"type": "number", "minimum": 0, "maximum": 120}}),
    "gateway_restart": _obj({"down_s": {"type": "number", "minimum": 0, "maximum": 120}}),
}

_EVENT = _obj(
    {
        "at": {
            "type": "number",
            "minimum": 0,
            "description": "Simulated seconds after the vehicle armed.",
        },
        "when": _WHEN,
        "vehicle": {**_ID, "description": "Default: the first vehicle."},
        **{
            name: {**body, "description": f"Fault: {name}."} for name, body in _FAULT_BODIES.items()
        },
    },
    minProperties=2,
)

_EXPECTATION_BODIES: dict[str, dict[str, Any]] = {
    "planted_found": _obj(
        {
            "within_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 200},
            "min_fraction": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "false_suspects": _obj({"max": {"type": "integer", "minimum": 0}}, ("max",)),
    "inside_fence": _obj(
        {
            "tolerance_m": {"type": "number", "minimum": 0, "maximum": 500},
            "vehicle": _ID,
        }
    ),
    "lands_after_failsafe": _obj(
        {"within_s": {"type": "number", "exclusiveMinimum": 0}, "vehicle": _ID}, ("within_s",)
    ),
    "evidence": _obj(
        {
            "min": {"type": "integer", "minimum": 0},
            "max": {"type": "integer", "minimum": 0},
            "all_sent": {
                "type": "boolean",
                "description": "Every evidence item the vehicles sent is in the case record.",
            },
        },
        minProperties=1,
    ),
    "cases_opened": _range(),
    "audit_verifies": {"type": "boolean"},
    "outcome": {
        "oneOf": [
            {"enum": list(OUTCOMES)},
            _obj({"vehicle": _ID, "is": {"enum": list(OUTCOMES)}}, ("is",)),
        ],
        "description": "completed: the whole mission was flown and the vehicle landed; "
        "aborted: a failsafe or command ended it early.",
    },
}

_EXPECTATION = _obj(
    {name: {**body} for name, body in _EXPECTATION_BODIES.items()},
    minProperties=1,
    maxProperties=1,
)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "FieldPatrol simulation scenario",
    "description": "One scripted simulated patrol: site, vehicles, world, mission, timeline of "
    "faults, and the expectations that must hold (`patrol sim run`). See docs/scenarios.md.",
    **_obj(
        {
            "version": {"const": SCHEMA_VERSION},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string"},
            "site": {
                "type": "string",
                "description": "Site file (GeoJSON or KML), relative to the scenario file.",
            },
            "seed": {"type": "integer", "description": "Seed of world and simulator noise."},
            "backend": {"enum": list(BACKENDS)},
            "timeout_s": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 3600,
                "description": "Wall-clock limit of the whole run (default 120 s; 600 s with "
                "a SITL vehicle).",
            },
            "vehicles": {"type": "array", "items": _VEHICLE, "minItems": 1, "maxItems": 8},
            "world": _WORLD,
            "mission": _MISSION,
            "timeline": {"type": "array", "items": _EVENT, "maxItems": 50},
            "expect": {"type": "array", "items": _EXPECTATION, "minItems": 1},
        },
        ("version", "name", "site", "vehicles", "mission", "expect"),
    ),
}


def render() -> str:
    """The schema file text (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(SCHEMA, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schema(directory: str | Path) -> Path:
    """Write ``scenario.schema.json`` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scenario.schema.json"
    path.write_text(render(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(export_schema(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"))
