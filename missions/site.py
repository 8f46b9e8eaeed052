"""Sites: the keep-in area, exclusion zones, altitude limits, launch and rally points of a patrol.

A site file is a GeoJSON FeatureCollection, one feature per element, ``properties.role`` one of
``keep_in``, ``exclusion``, ``launch``, ``rally``, ``poi`` (see docs/missions.md). KML files are
read by :mod:`missions.kml`. Loading validates the site and raises :class:`SiteError` with the
feature, the field and the bad value.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape

from missions.errors import SiteError
from missions.frame import LocalFrame
from missions.simplify import MAX_FENCE_VERTICES, simplify_polygon

ROLES = ("keep_in", "exclusion", "launch", "rally", "poi")
#: Areas outside these bounds are almost always a unit or coordinate mistake.
MIN_AREA_M2 = 100.0
MAX_AREA_M2 = 400e6
#: Circle exclusions become polygons with this many vertices, drawn around (not inside) the circle.
CIRCLE_VERTICES = 32
DEFAULT_MIN_ALT_M = 0.0
#: China's rules for light UAVs cap true height at 120 m; the default mirrors that.
DEFAULT_MAX_ALT_M = 120.0


@dataclass(frozen=True)
class Poi:
    """A named point of interest (a drain outlet, a reported dump site ...)."""

    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class ExclusionInfo:
    """Where an exclusion polygon came from: a polygon feature, a circle, or a keep-in hole."""

    name: str
    kind: str  # "polygon" | "circle" | "hole"
    center: tuple[float, float] | None = None
    radius_m: float | None = None


@dataclass
class Site:
    """A validated site in WGS84 lon/lat (GeoJSON order)."""

    id: str
    name: str
    keep_in: Polygon | MultiPolygon
    exclusions: list[Polygon]
    min_alt_m: float
    max_alt_m: float
    launch: tuple[float, float]
    rally: list[tuple[float, float]] = field(default_factory=list)
    pois: list[Poi] = field(default_factory=list)
    exclusion_info: list[ExclusionInfo] = field(default_factory=list)
    _fence_cache: dict[tuple[str, int], list[Polygon]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @cached_property
    def frame(self) -> LocalFrame:
        """The local metric frame, centred at the launch point (so AGL is relative to launch)."""
        return LocalFrame(self.launch[0], self.launch[1])

    @cached_property
    def local_keep_in(self) -> Polygon | MultiPolygon:
        return self.frame.geom_to_local(self.keep_in)

    @cached_property
    def local_exclusions(self) -> list[Polygon]:
        if not self.exclusions:
            return []
        return list(self.frame.geom_to_local(np.asarray(self.exclusions, dtype=object)))

    @cached_property
    def local_allowed(self) -> Polygon | MultiPolygon:
        """Keep-in minus every exclusion, in local metres: where a vehicle may be at all."""
        return allowed_area(self, 0.0, fenced=False)

    def fence_keep_in_parts(self, max_vertices: int = MAX_FENCE_VERTICES) -> list[Polygon]:
        """Keep-in polygons (local metres) as the vehicle's fence will hold them: simplified
        inward to max_vertices when larger, so a plan inside them never breaches the fence."""
        key = ("in", max_vertices)
        if key not in self._fence_cache:
            self._fence_cache[key] = [
                simplify_polygon(p, max_vertices, grow=False)
                for p in shapely.get_parts(self.local_keep_in)
            ]
        return self._fence_cache[key]

    def fence_exclusion(self, index: int, max_vertices: int = MAX_FENCE_VERTICES) -> Polygon:
        """Exclusion index (local metres) as the fence holds it: grown when simplified."""
        key = ("ex", max_vertices)
        if key not in self._fence_cache:
            self._fence_cache[key] = [
                simplify_polygon(p, max_vertices, grow=True) for p in self.local_exclusions
            ]
        return self._fence_cache[key][index]

    def exclusion_name(self, index: int) -> str:
        if index < len(self.exclusion_info):
            return self.exclusion_info[index].name
        return f"exclusion {index}"

    def to_geojson(self) -> dict[str, Any]:
        """The site as a FeatureCollection that :func:`site_from_geojson` reads back."""
        features: list[dict[str, Any]] = [
            {
                "type": "Feature",
                "properties": {
                    "role": "keep_in",
                    "min_alt_m": self.min_alt_m,
                    "max_alt_m": self.max_alt_m,
                },
                "geometry": mapping(self.keep_in),
            }
        ]
        for i, poly in enumerate(self.exclusions):
            info = self.exclusion_info[i] if i < len(self.exclusion_info) else None
            if info is not None and info.kind == "hole":
                continue  # written as part of the keep-in polygon
            props: dict[str, Any] = {"role": "exclusion"}
            if info is not None and info.name:
                props["name"] = info.name
            if info is not None and info.kind == "circle" and info.center and info.radius_m:
                props["radius_m"] = info.radius_m
                geom: dict[str, Any] = {"type": "Point", "coordinates": list(info.center)}
            else:
                geom = dict(mapping(poly))
            features.append({"type": "Feature", "properties": props, "geometry": geom})
        features.append(_point_feature("launch", self.launch))
        features.extend(_point_feature("rally", p) for p in self.rally)
        features.extend(_point_feature("poi", (p.lon, p.lat), name=p.name) for p in self.pois)
        return {
            "type": "FeatureCollection",
            "properties": {"name": self.name, "id": self.id},
            "features": _jsonable(features),
        }


def _point_feature(role: str, lonlat: tuple[float, float], name: str | None = None) -> dict:
    props: dict[str, Any] = {"role": role}
    if name is not None:
        props["name"] = name
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [lonlat[0], lonlat[1]]},
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def allowed_area(site: Site, margin_m: float, fenced: bool = True) -> Polygon | MultiPolygon:
    """Local-metre area at least margin_m inside the keep-in and outside every exclusion.

    With fenced (planning), the keep-in and exclusions are taken as the vehicle's fence will
    hold them (simplified to ArduPilot's vertex limit: keep-in shrunk, exclusions grown)."""
    if fenced:
        parts = site.fence_keep_in_parts()
        keep = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        excl_list = [site.fence_exclusion(i) for i in range(len(site.local_exclusions))]
    else:
        keep, excl_list = site.local_keep_in, site.local_exclusions
    if margin_m > 0:
        keep = keep.buffer(-margin_m, join_style="mitre")
    if excl_list:
        excl = np.asarray(excl_list, dtype=object)
        if margin_m > 0:
            # Mitred buffers contain the round ones and keep the vertex count small.
            excl = shapely.buffer(excl, margin_m, join_style="mitre", mitre_limit=2.0)
        keep = keep.difference(shapely.union_all(excl))
    keep = shapely.make_valid(keep)
    polys = [g for g in _polygons(keep) if g.area > 1e-6]
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _polygons(geom: shapely.Geometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        out: list[Polygon] = []
        for g in geom.geoms:
            out.extend(_polygons(g))
        return out
    return []


# --------------------------------------------------------------------------- loading


def load_site(path: str | Path) -> Site:
    """Read a site from a GeoJSON (.geojson/.json) or KML (.kml) file."""
    p = Path(path)
    if not p.is_file():
        raise SiteError(f"site file {str(p)!r} does not exist")
    if p.suffix.lower() == ".kml":
        from missions.kml import site_from_kml

        return site_from_kml(p.read_bytes(), default_name=p.stem)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SiteError(f"site file {str(p)!r} is not valid JSON: {exc}") from None
    return site_from_geojson(data, default_name=p.stem)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return slug or "site"


def _check_position(where: str, coords: Any) -> tuple[float, float]:
    if (
        not isinstance(coords, list | tuple)
        or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise SiteError(f"{where}: coordinate {coords!r} is not a [lon, lat] pair of numbers")
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise SiteError(f"{where}: coordinate {coords!r} is not finite")
    if abs(lat) > 90.0 and abs(lon) <= 90.0 and abs(lat) <= 180.0:
        raise SiteError(
            f"{where}: coordinate [{lon}, {lat}] has latitude {lat} outside ±90; it looks like "
            "[lat, lon] — GeoJSON wants [lon, lat], swap the two numbers"
        )
    if abs(lon) > 180.0 or abs(lat) > 90.0:
        raise SiteError(
            f"{where}: coordinate [{lon}, {lat}] is not WGS84 degrees "
            "(projected metres? GeoJSON wants lon/lat degrees)"
        )
    return lon, lat


def _walk_positions(where: str, coords: Any, depth: int) -> None:
    if depth == 0:
        _check_position(where, coords)
        return
    if not isinstance(coords, list | tuple) or not coords:
        raise SiteError(f"{where}: coordinates {str(coords)[:60]!r} are empty or malformed")
    for c in coords:
        _walk_positions(where, c, depth - 1)


def _feature_geometry(where: str, feature: dict[str, Any], allowed: tuple[str, ...]) -> Any:
    geom = feature.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") not in allowed:
        got = geom.get("type") if isinstance(geom, dict) else geom
        raise SiteError(f"{where}: geometry type {got!r} must be one of {', '.join(allowed)}")
    depth = {"Point": 0, "Polygon": 2, "MultiPolygon": 3}[geom["type"]]
    _walk_positions(where, geom.get("coordinates"), depth)
    try:
        return shape(geom)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise SiteError(f"{where}: geometry cannot be read: {exc}") from None


def _check_polygon(where: str, poly: Polygon | MultiPolygon, frame: LocalFrame | None) -> None:
    if poly.is_empty:
        raise SiteError(f"{where}: polygon is empty")
    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        m = re.search(r"\[([-\d.eE]+) ([-\d.eE]+)\]", reason)
        at = f" near [{float(m.group(1)):.7f}, {float(m.group(2)):.7f}]" if m else ""
        if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
            raise SiteError(
                f"{where}: polygon ring intersects itself{at}; reorder the vertices so the "
                "boundary does not cross itself"
            )
        raise SiteError(f"{where}: polygon is not valid ({reason})")
    if frame is not None:
        area = frame.geom_to_local(poly).area
        if area < MIN_AREA_M2:
            raise SiteError(
                f"{where}: polygon area {area:.1f} m² is below {MIN_AREA_M2:.0f} m²; "
                "check the coordinates (degrees, lon/lat order)"
            )
        if area > MAX_AREA_M2:
            raise SiteError(
                f"{where}: polygon area {area / 1e6:.1f} km² is above {MAX_AREA_M2 / 1e6:.0f} km²;"
                " split the site into smaller ones"
            )


def _alt(where: str, props: dict[str, Any], key: str, default: float) -> float:
    value = props.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SiteError(f"{where}: {key}={value!r} must be a number of metres")
    return float(value)


def site_from_geojson(data: Any, default_name: str = "site") -> Site:
    """Build and validate a :class:`Site` from a GeoJSON FeatureCollection (a dict)."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise SiteError(f"site: type {got!r} must be 'FeatureCollection'")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise SiteError("site: 'features' must be a non-empty list")
    cprops = data.get("properties") or {}
    if not isinstance(cprops, dict):
        raise SiteError("site: collection 'properties' must be an object")
    name = str(cprops.get("name") or default_name)
    # A name in Chinese has no ASCII to make an id from: the file name is a better id then.
    from_name = cprops.get("name") and str(cprops["name"]).isascii()
    site_id = str(cprops.get("id") or _slug(name if from_name else default_name))

    keep_parts: list[Polygon] = []
    min_alt, max_alt = DEFAULT_MIN_ALT_M, DEFAULT_MAX_ALT_M
    excl_raw: list[tuple[str, dict[str, Any], Any]] = []
    launch: tuple[float, float] | None = None
    rally: list[tuple[float, float]] = []
    pois: list[Poi] = []
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise SiteError(f"feature {i}: must be a GeoJSON Feature object")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise SiteError(f"feature {i}: 'properties' must be an object")
        role = props.get("role")
        label = f"feature {i} ({role}{', ' + str(props['name']) if props.get('name') else ''})"
        if role not in ROLES:
            raise SiteError(f"feature {i}: properties.role={role!r} must be one of {ROLES}")
        if role == "keep_in":
            geom = _feature_geometry(label, feature, ("Polygon", "MultiPolygon"))
            keep_parts.extend(_polygons(geom))
            min_alt = _alt(label, props, "min_alt_m", min_alt)
            max_alt = _alt(label, props, "max_alt_m", max_alt)
        elif role == "exclusion":
            geom = _feature_geometry(label, feature, ("Polygon", "MultiPolygon", "Point"))
            excl_raw.append((label, props, geom))
        else:
            pt = _feature_geometry(label, feature, ("Point",))
            if role == "launch":
                if launch is not None:
                    raise SiteError(f"{label}: a site has one launch point; found a second")
                launch = (pt.x, pt.y)
            elif role == "rally":
                rally.append((pt.x, pt.y))
            else:
                pname = props.get("name")
                if not isinstance(pname, str) or not pname:
                    raise SiteError(f"{label}: a poi needs properties.name (a non-empty string)")
                pois.append(Poi(pname, pt.x, pt.y))
    if not keep_parts:
        raise SiteError("site: no feature with properties.role='keep_in' (the area to patrol)")
    if launch is None:
        raise SiteError("site: no feature with properties.role='launch' (the take-off point)")
    if min_alt < 0 or max_alt <= min_alt:
        raise SiteError(
            f"keep_in: min_alt_m={min_alt} and max_alt_m={max_alt} must satisfy "
            "0 <= min_alt_m < max_alt_m"
        )
    frame = LocalFrame(*launch)
    for part in keep_parts:
        _check_polygon("keep_in", part, frame)
    keep_in: Polygon | MultiPolygon = (
        keep_parts[0] if len(keep_parts) == 1 else MultiPolygon(keep_parts)
    )
    if not keep_in.is_valid:
        raise SiteError("keep_in: the keep-in polygons overlap; merge them into one polygon")

    exclusions: list[Polygon] = []
    info: list[ExclusionInfo] = []
    for label, props, geom in excl_raw:
        ename = str(props.get("name") or label)
        if isinstance(geom, Point):
            radius = props.get("radius_m")
            if (
                isinstance(radius, bool)
                or not isinstance(radius, int | float)
                or not math.isfinite(radius)
                or radius <= 0
            ):
                raise SiteError(f"{label}: a Point exclusion needs radius_m > 0, got {radius!r}")
            polys = [_circle_polygon(frame, geom.x, geom.y, float(radius))]
            kinfo = ExclusionInfo(ename, "circle", (geom.x, geom.y), float(radius))
        else:
            polys = _polygons(geom)
            kinfo = ExclusionInfo(ename, "polygon")
        for poly in polys:
            _check_polygon(label, poly, None)
            if not poly.intersects(keep_in):
                raise SiteError(
                    f"{label}: exclusion zone lies entirely outside the keep-in area; "
                    "fix its coordinates or remove it"
                )
            exclusions.append(poly)
            info.append(kinfo)
    for part in keep_parts:
        for j, ring in enumerate(part.interiors):
            exclusions.append(Polygon(ring))
            info.append(ExclusionInfo(f"keep_in hole {j + 1}", "hole"))

    site = Site(
        id=site_id,
        name=name,
        keep_in=keep_in,
        exclusions=exclusions,
        min_alt_m=min_alt,
        max_alt_m=max_alt,
        launch=launch,
        rally=rally,
        pois=pois,
        exclusion_info=info,
    )
    validate_site(site)
    return site


def _circle_polygon(frame: LocalFrame, lon: float, lat: float, radius_m: float) -> Polygon:
    x, y = frame.to_local(lon, lat)
    # Scale so the polygon's edges (not just its vertices) lie outside the true circle.
    r = radius_m / math.cos(math.pi / CIRCLE_VERTICES)
    angles = np.linspace(0.0, 2.0 * math.pi, CIRCLE_VERTICES, endpoint=False)
    xs, ys = x + r * np.cos(angles), y + r * np.sin(angles)
    lons, lats = frame.to_wgs84(xs, ys)
    return Polygon(np.column_stack([lons, lats]))


def validate_site(site: Site) -> None:
    """Checks that need the whole site: launch and rally inside, something left to fly."""
    keep = site.local_keep_in
    allowed = site.local_allowed
    if allowed.is_empty or allowed.area < 1.0:
        raise SiteError(
            "site: the exclusion zones cover the whole keep-in area; nothing is left to patrol"
        )
    lx, ly = site.frame.to_local(*site.launch)
    launch_pt = Point(lx, ly)
    if not keep.covers(launch_pt):
        d = keep.distance(launch_pt)
        raise SiteError(
            f"launch: point [{site.launch[0]:.7f}, {site.launch[1]:.7f}] is {d:.1f} m outside "
            "the keep-in area; move it inside"
        )
    for i, poly in enumerate(site.local_exclusions):
        if poly.contains(launch_pt):
            raise SiteError(
                f"launch: point [{site.launch[0]:.7f}, {site.launch[1]:.7f}] is inside exclusion "
                f"zone {site.exclusion_name(i)!r}; move it out"
            )
    for k, (lon, lat) in enumerate(site.rally):
        if not allowed.covers(Point(*site.frame.to_local(lon, lat))):
            raise SiteError(
                f"rally {k}: point [{lon:.7f}, {lat:.7f}] is outside the keep-in area or inside "
                "an exclusion zone; move it"
            )
