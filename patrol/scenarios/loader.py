"""Read a scenario file, check it completely, and plan its missions — before anything starts.

Two layers of checks, both ending in one :class:`ScenarioError` line that names the file and
the offending key path (``vehicles[0].speedup``, ``timeline[2].at``):

1. the JSON Schema in :mod:`patrol.scenarios.schema` (types, ranges, unknown keys);
2. what needs the site and the plans: the site loads, planted objects lie inside the site and
   outside its exclusion zones, a fault is scheduled before the mission ends, a fence-breach
   target really lies outside the fence, vehicle references exist, and the SITL binary of every
   vehicle that runs on SITL is configured.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from patrol.scenarios.errors import ScenarioError
from patrol.scenarios.model import (
    DEFAULT_SPEEDUP,
    DEFAULT_TIMEOUT_S,
    Expectation,
    MissionSpec,
    PlannedSortie,
    PlantedSpec,
    Scenario,
    TimelineEvent,
    VehicleSpec,
    WorldSpec,
)
from patrol.scenarios.schema import EXPECTATIONS, FAULTS, SCHEMA
from simulators.world import VIOLATION_KINDS

#: Survey and perimeter altitude above launch when the mission does not give one.
_DEFAULT_ALTITUDE_M = 50.0


def key_path(parts: Iterable[str | int]) -> str:
    """`["vehicles", 0, "speedup"]` -> `vehicles[0].speedup`."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_message(error: Any) -> str:
    """One line for a jsonschema ValidationError: key path, what is wrong, what to do."""
    path = list(error.absolute_path)
    where = key_path(path)
    v = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if v == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        key = key_path([*path, unknown[0]]) if unknown else where
        return f"{key}: unknown key; the keys allowed here are {', '.join(known)}"
    if v == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else "?"
        return f"{key_path([*path, missing])}: missing; this key is required"
    if v == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return f"{where}: {_describe(error.instance)} is not allowed; use one of {options}"
    if v == "const":
        return f"{where}: must be {error.validator_value!r} (this program reads version 1)"
    if v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        article = "an" if str(want)[0] in "aeiou" else "a"
        return f"{where}: expected {article} {want}, got {_describe(error.instance)}"
    if v in ("minProperties", "maxProperties") and path and path[0] == "expect":
        return f"{where}: name exactly one expectation, one of {', '.join(EXPECTATIONS)}"
    if v in ("minProperties", "maxProperties") and path and path[-1] == "when":
        return (
            f"{where}: name exactly one condition: progress, waypoint, mode or evidence_submitted"
        )
    if v == "minProperties" and path and path[0] == "timeline":
        return f"{where}: give `at` or `when` and one fault ({', '.join(FAULTS)})"
    if v == "oneOf" and path and path[-1] == "outcome":
        return f"{where}: use completed or aborted, or {{is: completed|aborted, vehicle: ID}}"
    if v == "pattern":
        return f"{where}: {_describe(error.instance)} does not match {error.validator_value}"
    return f"{where}: {error.message}"


def _validate(doc: Any, source: str) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SCHEMA)
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    # The deepest error first: it points at the key to fix, not at a parent holding it.
    errors.sort(key=lambda e: (-len(e.absolute_path), key_path(e.absolute_path)))
    first = errors[0]
    more = (
        f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
    )
    raise ScenarioError(f"{source}: {_schema_message(first)}{more}")


def read_document(path: Path) -> dict[str, Any]:
    """The YAML document of a scenario file, or a ScenarioError saying why not."""
    import yaml

    if not path.is_file():
        raise ScenarioError(f"scenario file {path} not found; pass the path of a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{path}: {where}not valid YAML ({problem})") from None
    if not isinstance(doc, dict):
        raise ScenarioError(
            f"{path}: (top level): expected a mapping of keys (version, name, site, vehicles, "
            "mission, expect, ...), got {_describe(doc)}"
        )
    return doc


def load_scenario(
    path: str | Path,
    *,
    backend: str | None = None,
    sitl_copter: str | None = None,
    sitl_rover: str | None = None,
) -> Scenario:
    """Read, validate and plan the scenario at `path`.

    `backend` overrides the file's backend for every vehicle (`--backend`); `sitl_copter` and
    `sitl_rover` are the configured SITL binaries (only `patrol` reads configuration).
    """
    p = Path(path)
    source = str(p)
    doc = read_document(p)
    _validate(doc, source)

    def fail(key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{source}: {key}: {problem}")

    base = p.resolve().parent
    site = _load_site(base / doc["site"], fail)
    seed = int(doc.get("seed", 0))
    scenario_backend = backend or doc.get("backend", "builtin")

    vehicles: list[VehicleSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["vehicles"]):
        if raw["id"] in seen:
            raise fail(f"vehicles[{i}].id", f"{raw['id']!r} is used twice; give each its own id")
        seen.add(raw["id"])
        vb = backend or raw.get("backend", scenario_backend)
        vehicles.append(
            VehicleSpec(
                id=raw["id"],
                kind=raw["kind"],
                backend=vb,
                speedup=float(raw.get("speedup", DEFAULT_SPEEDUP[vb])),
                params={k: float(v) for k, v in raw.get("params", {}).items()},
                sysid=i + 1,
            )
        )

    for i, v in enumerate(vehicles):
        if v.backend == "builtin" and v.params:
            from simulators.vehicle import ParamStore

            known = ParamStore(v.kind)
            for name in v.params:
                if name not in known:
                    raise fail(
                        f"vehicles[{i}].params.{name}",
                        f"the built-in {v.kind} simulator has no parameter {name}; see "
                        "docs/simulator.md for the parameters it simulates",
                    )
    world = _world(doc.get("world", {}), seed, site, fail)
    mission = _mission(doc["mission"], base, fail)
    sorties = _plan(site, mission, vehicles, fail)
    timeline = _timeline(doc.get("timeline", []), vehicles, sorties, site, fail)
    expectations = _expectations(doc["expect"], vehicles, fail)
    planted_violations = world.violations + sum(
        1 for p in world.planted if p.class_name in VIOLATION_KINDS
    )
    for e in expectations:
        if e.kind == "planted_found" and planted_violations == 0:
            # "every planted violation found" over none would pass whatever happens.
            raise fail(
                e.key,
                "the world plants no violation, so this cannot fail; plant some "
                "(world.planted or world.violations) or drop the expectation",
            )

    # Last, since it is about this machine rather than the file: a backend that cannot start.
    for i, v in enumerate(vehicles):
        if v.backend == "sitl":
            from simulators.sitl import SitlError, sitl_binary

            try:
                sitl_binary(v.kind, sitl_copter, sitl_rover)
            except SitlError as exc:
                key = f"vehicles[{i}].backend" if backend is None else "--backend"
                raise fail(key, f"sitl is not available: {exc}") from None

    return Scenario(
        path=p,
        name=str(doc["name"]),
        description=str(doc.get("description", "")).strip(),
        site_path=base / doc["site"],
        site=site,
        seed=seed,
        backend=scenario_backend,
        timeout_s=float(doc.get("timeout_s", max(DEFAULT_TIMEOUT_S[v.backend] for v in vehicles))),
        vehicles=vehicles,
        world=world,
        mission=mission,
        timeline=timeline,
        expectations=expectations,
        sorties=sorties,
        raw=doc,
    )


# --------------------------------------------------------------------------- parts


def _load_site(path: Path, fail: Any) -> Any:
    from missions.errors import MissionsError
    from missions.site import load_site

    if not path.is_file():
        raise fail("site", f"file {path} not found; the path is relative to the scenario file")
    try:
        return load_site(path)
    except MissionsError as exc:
        raise fail("site", str(exc)) from None


def _outside_m(site: Any, lon: float, lat: float) -> tuple[float, str | None]:
    """How far (m) the point lies outside the keep-in area, and the exclusion it lies in."""
    from shapely.geometry import Point

    x, y = site.frame.to_local(lon, lat)
    pt = Point(float(x), float(y))
    outside = float(site.local_keep_in.distance(pt))
    for i, excl in enumerate(site.local_exclusions):
        if excl.contains(pt):
            return outside, site.exclusion_name(i)
    return outside, None


def _leg_leaves_fence(site: Any, start: list[float], end: list[float]) -> bool:
    """Whether the straight leg start → end leaves the keep-in area or crosses an exclusion."""
    from shapely.geometry import LineString

    a = site.frame.to_local(start[0], start[1])
    b = site.frame.to_local(end[0], end[1])
    leg = LineString([(float(a[0]), float(a[1])), (float(b[0]), float(b[1]))])
    return not site.local_keep_in.covers(leg) or any(
        excl.intersects(leg) for excl in site.local_exclusions
    )


def _check_breach_attempt(site: Any, args: dict[str, Any], key: str, fail: Any) -> None:
    """A breach attempt aims outside the fence (which ArduPilot refuses as a GUIDED destination)
    or goes by way of `via` so that the straight leg from there to an inside target crosses
    out of it (which ArduPilot does not check: only the fence action can stop it)."""
    target = args["target"]
    via = args.get("via")
    outside, exclusion = _outside_m(site, target[0], target[1])
    if via is not None:
        _inside_site(site, via, f"{key}.via", fail)
        if outside <= 0 and exclusion is None and not _leg_leaves_fence(site, via, target):
            raise fail(
                f"{key}.target",
                f"the straight leg from via {via} to target {target} stays inside the fence "
                f"of site {site.id!r}; pick points whose leg crosses an exclusion zone or "
                "leaves the keep-in area",
            )
    elif outside <= 0 and exclusion is None:
        raise fail(
            f"{key}.target",
            f"{target} lies inside the fence of site {site.id!r}; a breach attempt needs a "
            "target outside the keep-in area or in an exclusion zone, or a `via` point from "
            "which the leg to the target crosses the fence",
        )


def _inside_site(site: Any, lonlat: list[float], key: str, fail: Any) -> None:
    outside, exclusion = _outside_m(site, lonlat[0], lonlat[1])
    if outside > 0:
        raise fail(
            key,
            f"{lonlat} lies {outside:.0f} m outside the keep-in area of site {site.id!r}; "
            "move it inside the site",
        )
    if exclusion is not None:
        raise fail(key, f"{lonlat} lies in the exclusion zone {exclusion!r}; move it out of it")


def _world(raw: dict[str, Any], seed: int, site: Any, fail: Any) -> WorldSpec:
    planted: list[PlantedSpec] = []
    for i, item in enumerate(raw.get("planted", [])):
        _inside_site(site, item["at"], f"world.planted[{i}].at", fail)
        planted.append(
            PlantedSpec(
                id=item.get("id", f"p{i:03d}"),
                class_name=item["class"],
                lon=float(item["at"][0]),
                lat=float(item["at"][1]),
                heading_deg=item.get("heading_deg"),
                length_m=item.get("length_m"),
                width_m=item.get("width_m"),
            )
        )
    ids = [p.id for p in planted]
    for i, ident in enumerate(ids):
        if ids.index(ident) != i:
            raise fail(f"world.planted[{i}].id", f"{ident!r} is used twice")
    default_v, default_d = (0, 0) if planted else (4, 6)
    classes = raw.get("classes")
    return WorldSpec(
        seed=int(raw.get("seed", seed)),
        violations=int(raw.get("violations", default_v)),
        distractors=int(raw.get("distractors", default_d)),
        classes=tuple(classes) if classes else None,
        planted=tuple(planted),
    )


#: Mission keys and the patterns that use them.
_MISSION_KEYS: dict[str, tuple[str, ...]] = {
    "file": ("file",),
    "altitude_agl_m": ("survey", "perimeter"),
    "angle_deg": ("survey",),
    "margin_m": ("survey",),
    "front_overlap": ("survey",),
    "side_overlap": ("survey",),
    "area": ("survey",),
    "inset_m": ("perimeter",),
    "trigger_distance_m": ("perimeter",),
}


def _mission(raw: dict[str, Any], base: Path, fail: Any) -> MissionSpec:
    pattern = raw["pattern"]
    file = None
    if pattern == "file":
        if "file" not in raw:
            raise fail("mission.file", "missing; pattern file needs a .plan or .waypoints file")
        file = base / raw["file"]
        if not file.is_file():
            raise fail("mission.file", f"{file} not found; the path is relative to the scenario")
    # A parameter the pattern does not use would be silently ignored: refuse it instead.
    for key in raw:
        used_by = _MISSION_KEYS.get(key)
        if used_by is not None and pattern not in used_by:
            raise fail(
                f"mission.{key}",
                f"only used with pattern: {' or '.join(used_by)} (pattern is {pattern})",
            )
    return MissionSpec(
        pattern=pattern,
        file=file,
        altitude_agl_m=raw.get("altitude_agl_m"),
        speed_m_s=raw.get("speed_m_s"),
        angle_deg=raw.get("angle_deg"),
        margin_m=raw.get("margin_m"),
        inset_m=raw.get("inset_m"),
        trigger_distance_m=raw.get("trigger_distance_m"),
        front_overlap=raw.get("front_overlap"),
        side_overlap=raw.get("side_overlap"),
        area=tuple((float(a), float(b)) for a, b in raw["area"]) if "area" in raw else None,
    )


def survey_site(site: Any, area: tuple[tuple[float, float], ...] | None, fail: Any) -> Any:
    """The site to plan a survey over: the whole site, or its keep-in cut to `area`."""
    if area is None:
        return site
    from shapely.geometry import Point, Polygon

    block = Polygon(area)
    if not block.is_valid or block.area <= 0:
        raise fail("mission.area", "is not a simple polygon; list its corners in order")
    keep = site.keep_in.intersection(block)
    if keep.is_empty or keep.geom_type not in ("Polygon", "MultiPolygon"):
        raise fail("mission.area", f"does not overlap the keep-in area of site {site.id!r}")
    # The vehicle takes off at the launch point and must reach the block inside the planning
    # fence: the block is widened to the launch point (hull), never beyond the site.
    keep = keep.union(Point(site.launch)).convex_hull.intersection(site.keep_in)
    if keep.geom_type != "Polygon":
        raise fail("mission.area", "is cut in pieces by the site's outline; draw it inside")
    return dataclasses.replace(site, keep_in=keep, _fence_cache={})


def _plan(
    site: Any, mission: MissionSpec, vehicles: list[VehicleSpec], fail: Any
) -> dict[str, PlannedSortie]:
    from missions.camera import CameraModel
    from missions.errors import MissionsError

    kinds = {v.kind for v in vehicles}
    if mission.pattern == "survey" and "rover" in kinds:
        raise fail("mission.pattern", "survey is flown by copters; a rover patrols: perimeter")
    if mission.pattern != "survey" and len(vehicles) > 1:
        raise fail(
            "mission.pattern",
            f"{mission.pattern} is flown by one vehicle; only a survey is split among several",
        )
    camera = detector_camera(CameraModel)
    opts: dict[str, Any] = {}
    for name in ("speed_m_s", "angle_deg", "margin_m", "front_overlap", "side_overlap"):
        value = getattr(mission, name)
        if value is not None:
            opts[name] = value
    altitude = mission.altitude_agl_m or _DEFAULT_ALTITUDE_M
    try:
        if mission.pattern == "survey":
            from missions.split import split_survey
            from missions.survey import plan_survey

            area_site = survey_site(site, mission.area, fail)
            if len(vehicles) == 1:
                plans = [plan_survey(area_site, camera, altitude_agl_m=altitude, **opts)]
            else:
                plans = split_survey(
                    area_site, camera, len(vehicles), altitude_agl_m=altitude, **opts
                )
            if mission.area is not None:
                plans = [_refenced(site, plan) for plan in plans]
        elif mission.pattern == "perimeter":
            from missions.patterns import plan_perimeter

            kind = vehicles[0].kind
            per: dict[str, Any] = {"camera": camera}
            if mission.inset_m is not None:
                per["inset_m"] = mission.inset_m
            if mission.speed_m_s is not None:
                per["speed_m_s"] = mission.speed_m_s
            if mission.trigger_distance_m is not None:
                per["trigger_distance_m"] = mission.trigger_distance_m
            if kind == "copter":
                per["altitude_agl_m"] = altitude
            else:
                per["altitude_agl_m"] = 0.0
            plans = [plan_perimeter(site, vehicle=kind, **per)]
        else:
            return {vehicles[0].id: _from_file(site, mission, vehicles[0], fail)}
    except MissionsError as exc:
        raise fail("mission", str(exc)) from None
    out: dict[str, PlannedSortie] = {}
    for v, plan in zip(vehicles, plans, strict=False):
        out[v.id] = PlannedSortie(
            vehicle=v,
            items=plan.items,
            fence=plan.fence,
            rally=plan.rally,
            path_lonlat=[(float(a), float(b)) for a, b in plan.path_lonlat],
            duration_s=float(plan.estimates.duration_s),
            plan=plan,
        )
    if len(plans) < len(vehicles):
        raise fail(
            "vehicles",
            f"the survey has only {len(plans)} part(s) for {len(vehicles)} vehicles; "
            "use fewer vehicles or a larger area",
        )
    return out


def detector_camera(camera_model: Any) -> Any:
    """The default optics at the detector's 640x480 (what the synthetic camera renders)."""
    return dataclasses.replace(camera_model.default(), image_width_px=640, image_height_px=480)


def _refenced(site: Any, plan: Any) -> Any:
    """A plan over a block of the site, with the whole site's fence and rally points."""
    from missions.check import check_mission
    from missions.fence import fence_items, rally_items

    plan.fence = fence_items(site)
    plan.rally = rally_items(site, plan.altitude_agl_m)
    plan.check = check_mission(site, plan.items, vehicle=plan.vehicle)
    return plan


def _from_file(site: Any, mission: MissionSpec, vehicle: VehicleSpec, fail: Any) -> PlannedSortie:
    from missions.check import check_mission
    from missions.fence import fence_items, rally_items
    from missions.formats import load_mission
    from missions.plan import MissionPlan, PlanEstimates

    assert mission.file is not None
    mf = load_mission(mission.file)
    nav = [(it.lon_deg, it.lat_deg) for it in mf.items[1:] if it.lat_deg or it.lon_deg]
    if not nav:
        raise fail("mission.file", f"{mission.file} holds no positioned mission items")
    report = check_mission(site, mf.items, vehicle=vehicle.kind)
    if not report.ok:
        raise fail("mission.file", "does not fit the site: " + "; ".join(report.problems[:2]))
    alt = max((float(it.alt_m) for it in mf.items[1:] if it.lat_deg or it.lon_deg), default=30.0)
    path = [site.launch, *nav]
    length = sum(_metres(a, b) for a, b in itertools.pairwise(path))
    speed = mission.speed_m_s or (10.0 if vehicle.kind == "copter" else 3.0)
    duration = length / speed + 2 * alt / 2.5 + 10.0
    plan = MissionPlan(
        items=mf.items,
        fence=mf.fence or fence_items(site),
        rally=mf.rally or rally_items(site, alt),
        estimates=PlanEstimates(
            distance_m=length,
            duration_s=duration,
            photos=0,
            coverage_pct=0.0,
            turns=max(0, len(nav) - 1),
            waypoints=len(nav),
        ),
        path_lonlat=path,
        altitude_agl_m=alt,
        trigger_distance_m=0.0,
        vehicle=vehicle.kind,
        pattern="file",
        site_id=site.id,
        check=report,
    )
    return PlannedSortie(
        vehicle=vehicle,
        items=plan.items,
        fence=plan.fence,
        rally=plan.rally,
        path_lonlat=path,
        duration_s=duration,
        plan=plan,
    )


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (b[0] - a[0]) * 111_320.0 * math.cos(lat)
    dy = (b[1] - a[1]) * 110_540.0
    return math.hypot(dx, dy)


def _timeline(
    raw: list[dict[str, Any]],
    vehicles: list[VehicleSpec],
    sorties: dict[str, PlannedSortie],
    site: Any,
    fail: Any,
) -> list[TimelineEvent]:
    ids = [v.id for v in vehicles]
    out: list[TimelineEvent] = []
    for i, item in enumerate(raw):
        key = f"timeline[{i}]"
        faults = [k for k in item if k in FAULTS]
        if len(faults) != 1:
            found = ", ".join(faults) or "none"
            raise fail(key, f"name exactly one fault (found {found}); one of {', '.join(FAULTS)}")
        if ("at" in item) == ("when" in item):
            raise fail(key, "give either `at` (seconds after arming) or `when` (a condition)")
        vehicle = item.get("vehicle", ids[0])
        if vehicle not in ids:
            raise fail(f"{key}.vehicle", f"{vehicle!r} is not a vehicle here ({', '.join(ids)})")
        fault = faults[0]
        sortie = sorties[vehicle]
        if "at" in item and item["at"] > sortie.duration_s:
            raise fail(
                f"{key}.at",
                f"{item['at']:g} s is after the end of the mission (estimated "
                f"{sortie.duration_s:.0f} s for {vehicle}); schedule the fault earlier",
            )
        when = None
        if "when" in item:
            cond, value = next(iter(item["when"].items()))
            when = (cond, value)
            if cond == "waypoint" and value >= len(sortie.items):
                raise fail(
                    f"{key}.when.waypoint",
                    f"{value} is past the last mission item ({len(sortie.items) - 1}) of {vehicle}",
                )
        args = dict(item[fault] or {})
        if fault == "fence_breach":
            _check_breach_attempt(site, args, f"{key}.fence_breach", fail)
        out.append(
            TimelineEvent(
                index=i,
                fault=fault,
                args=args,
                vehicle=vehicle,
                at_s=float(item["at"]) if "at" in item else None,
                when=when,
            )
        )
    return out


def _expectations(
    raw: list[dict[str, Any]], vehicles: list[VehicleSpec], fail: Any
) -> list[Expectation]:
    ids = [v.id for v in vehicles]
    out: list[Expectation] = []
    for i, item in enumerate(raw):
        kind, body = next(iter(item.items()))
        args: dict[str, Any]
        if kind == "outcome":
            args = {"is": body} if isinstance(body, str) else dict(body)
        elif kind == "audit_verifies":
            args = {"is": bool(body)}
        else:
            args = dict(body or {})
        vehicle = args.get("vehicle")
        if vehicle is not None and vehicle not in ids:
            raise fail(
                f"expect[{i}].{kind}.vehicle",
                f"{vehicle!r} is not a vehicle here ({', '.join(ids)})",
            )
        for lo, hi in (("min", "max"), ("min_fraction", None)):
            if hi and lo in args and hi in args and args[lo] > args[hi]:
                raise fail(f"expect[{i}].{kind}", f"min {args[lo]} is above max {args[hi]}")
        out.append(Expectation(index=i, kind=kind, args=args))
    return out
