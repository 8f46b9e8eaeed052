"""A synthetic world for a site: ground, planted violations and distractors, ground truth.

``generate_world(site, seed)`` lays out fields, roads and trees over the site's keep-in
area plus a margin, plants violations (inside the keep-in area, outside exclusion zones)
and distractors, and keeps the ground truth (position, footprint, heading) of each. The same
site and seed always give the same world. The ground texture the synthetic camera films is
``world.raster`` (see :mod:`simulators.world.raster`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from simulators.world.errors import WorldError
from simulators.world.kinds import DISTRACTOR_KINDS, KIND_SPECS, VIOLATION_KINDS
from simulators.world.layout import Layout, footprint_polygon, free_spot, make_layout
from simulators.world.objects import PlantedObject, Primitive, Scene, draw_object
from simulators.world.raster import GroundRaster


class _Frame(Protocol):
    def to_local(self, lon: Any, lat: Any) -> tuple[Any, Any]: ...
    def to_wgs84(self, x: Any, y: Any) -> tuple[Any, Any]: ...


class _Site(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def keep_in(self) -> Any: ...
    @property
    def exclusions(self) -> Any: ...
    @property
    def frame(self) -> Any: ...


@dataclass
class World:
    """A generated world: what is planted where, and the ground texture to film."""

    site_id: str
    seed: int
    frame: Any  # missions.frame.LocalFrame
    keep_in_local: BaseGeometry
    bounds_m: tuple[float, float, float, float]
    scene: Scene
    violations: list[PlantedObject]
    distractors: list[PlantedObject]
    layout: Layout
    raster: GroundRaster = field(repr=False)
    scenery: list[PlantedObject] = field(default_factory=list, repr=False)  # trees, greenhouses
    primitives: list[Primitive] = field(default_factory=list, repr=False)
    owners: list[str] = field(default_factory=list, repr=False)  # object id per primitive

    def without(self, ids: Sequence[str]) -> World:
        """This world with the named planted objects removed (ground truth and texture).

        Everything else is drawn exactly as before, which makes "what did this object change
        in the frame" a simple difference of two renders.
        """
        drop = set(ids)
        keep = [i for i, o in enumerate(self.owners) if o not in drop]
        prims = [self.primitives[i] for i in keep]
        r = self.raster
        raster = GroundRaster(
            (r.x0, r.y1),
            self.layout.background,
            self.layout.patches,
            prims,
            resolution_m=r.resolution_m,
            tile_px=r.tile_px,
            max_tiles=r.max_tiles,
            seed=self.seed,
        )
        return replace(
            self,
            violations=[o for o in self.violations if o.id not in drop],
            distractors=[o for o in self.distractors if o.id not in drop],
            raster=raster,
            primitives=prims,
            owners=[self.owners[i] for i in keep],
        )

    @property
    def objects(self) -> list[PlantedObject]:
        """Violations then distractors."""
        return [*self.violations, *self.distractors]

    def to_geojson(self) -> dict[str, Any]:
        """Ground truth as a GeoJSON FeatureCollection: one footprint polygon per object."""
        features = []
        for o in self.objects:
            fp = o.footprint_local()
            lon, lat = self.frame.to_wgs84(fp[:, 0], fp[:, 1])
            ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
            ring.append(ring[0])
            features.append(
                {
                    "type": "Feature",
                    "id": o.id,
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {
                        "id": o.id,
                        "class_name": o.class_name,
                        "role": "violation" if o.is_violation else "distractor",
                        "lon": o.lon,
                        "lat": o.lat,
                        "heading_deg": round(o.heading_deg, 3),
                        "length_m": round(o.length_m, 3),
                        "width_m": round(o.width_m, 3),
                        "x_m": round(o.x_m, 3),
                        "y_m": round(o.y_m, 3),
                    },
                }
            )
        return {
            "type": "FeatureCollection",
            "properties": {
                "site_id": self.site_id,
                "seed": self.seed,
                "generator": "fieldpatrol.simulators.world/2",
                "frame_origin": [self.frame.lon0, self.frame.lat0]
                if hasattr(self.frame, "lon0")
                else None,
                "sun_azimuth_deg": round(self.scene.sun_azimuth_deg, 3),
                "sun_elevation_deg": round(self.scene.sun_elevation_deg, 3),
                "wind_to_deg": round(self.scene.wind_to_deg, 3),
                "violations": len(self.violations),
                "distractors": len(self.distractors),
            },
            "features": features,
        }

    def save(self, path: str | Path) -> Path:
        """Write the ground truth GeoJSON to ``path`` (parent directories created)."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(self.to_geojson(), ensure_ascii=False, indent=1), "utf-8")
        except OSError as exc:
            raise WorldError(f"path={str(p)!r}: cannot write the ground truth ({exc})") from exc
        return p


def _local(geom: Any, frame: Any) -> BaseGeometry:
    if hasattr(frame, "geom_to_local"):
        out: BaseGeometry = frame.geom_to_local(geom)
        return out

    def conv(xy: np.ndarray) -> np.ndarray:
        x, y = frame.to_local(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, conv)


def _greenhouse_block(
    rng: np.random.Generator, keep_in: BaseGeometry, angle_deg: float
) -> list[PlantedObject]:
    """Parallel tunnels in a block along the parcel grid, inside the keep-in area."""
    tunnel_l = float(rng.uniform(30, 70))
    tunnel_w = float(rng.uniform(6, 9))
    gap = float(rng.uniform(1.0, 2.5))
    n = int(rng.integers(3, 9))
    heading = (90.0 - angle_deg) % 180.0
    h = math.radians(heading)
    across = np.array([math.cos(h), -math.sin(h)])
    inner = keep_in.buffer(-tunnel_l / 2)
    if inner.is_empty:
        return []
    xmin, ymin, xmax, ymax = inner.bounds
    for _ in range(30):
        c = np.array([rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)])
        centres = [c + across * (k - (n - 1) / 2) * (tunnel_w + gap) for k in range(n)]
        fps = [footprint_polygon(x, y, heading, tunnel_l, tunnel_w) for x, y in centres]
        if all(keep_in.contains(f) for f in fps):
            return [
                PlantedObject(
                    f"g{k:03d}",
                    "greenhouse",
                    0.0,
                    0.0,
                    heading,
                    tunnel_l,
                    tunnel_w,
                    float(x),
                    float(y),
                    False,
                )
                for k, (x, y) in enumerate(centres)
            ]
    return []


def generate_world(
    site: _Site,
    seed: int,
    classes: Sequence[str] | None = None,
    violations: int = 8,
    distractors: int = 12,
    *,
    distractor_kinds: Sequence[str] | None = None,
    margin_m: float = 60.0,
    trees: bool = True,
    greenhouses: bool = True,
    resolution_m: float = 0.05,
    max_tiles: int = 320,
    sun: tuple[float, float] | None = None,
) -> World:
    """Generate the world of ``site`` for ``seed`` (deterministic).

    ``classes`` restricts the violation classes planted (default: all five), cycled so every
    class appears once before any appears twice. Violations lie inside the keep-in area and
    outside exclusion zones; distractors too. ``resolution_m`` is the ground texture's pixel
    size. ``sun`` fixes (azimuth, elevation) in degrees instead of a seeded time of day.
    """
    classes = list(VIOLATION_KINDS if classes is None else classes)
    for c in classes:
        if c not in VIOLATION_KINDS:
            raise WorldError(
                f"classes: unknown violation class {c!r}; use some of {', '.join(VIOLATION_KINDS)}"
            )
    kinds = list(DISTRACTOR_KINDS if distractor_kinds is None else distractor_kinds)
    for k in kinds:
        if k not in DISTRACTOR_KINDS:
            raise WorldError(
                f"distractor_kinds: unknown kind {k!r}; use some of {', '.join(DISTRACTOR_KINDS)}"
            )
    if violations < 0 or distractors < 0:
        raise WorldError(f"violations={violations}, distractors={distractors}: counts must be >= 0")
    if violations and not classes:
        raise WorldError("classes: empty, but violations > 0; name at least one class")
    if not (0.01 <= resolution_m <= 0.5):
        raise WorldError(f"resolution_m={resolution_m}: use 0.01 to 0.5 metres per pixel")

    frame = site.frame
    keep_in = _local(site.keep_in, frame)
    if keep_in.is_empty or keep_in.area <= 0:
        raise WorldError(f"site {site.id!r}: keep-in area is empty")
    excl_geoms = [_local(e, frame) for e in (site.exclusions or [])]
    xmin, ymin, xmax, ymax = keep_in.bounds
    bounds = (xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m)

    rng = np.random.default_rng([int(seed), 1])
    scene = Scene(
        sun_azimuth_deg=float(rng.uniform(100, 260)),
        sun_elevation_deg=float(rng.uniform(25, 65)),
        wind_to_deg=float(rng.uniform(0, 360)),
    )
    if sun is not None:
        if not (0.0 < sun[1] <= 90.0):
            raise WorldError(f"sun={sun!r}: elevation must be in (0, 90] degrees")
        scene = replace(scene, sun_azimuth_deg=float(sun[0]), sun_elevation_deg=float(sun[1]))
    layout = make_layout(np.random.default_rng([int(seed), 2]), bounds)
    roads = shapely.union_all(layout.roads) if layout.roads else None
    allowed = keep_in
    for e in excl_geoms:
        allowed = allowed.difference(e.buffer(2.0))

    place_rng = np.random.default_rng([int(seed), 3])
    order = [str(c) for c in place_rng.permutation(classes)] if classes else []
    taken: list[BaseGeometry] = []
    planted: list[PlantedObject] = []
    scenery: list[PlantedObject] = []
    if greenhouses:
        # Scenery, not ground truth: a block of plastic tunnels, the classic legal look-alike
        # of new sheds in farmland. Planted objects keep clear of it.
        gh_rng = np.random.default_rng([int(seed), 4])
        if gh_rng.uniform() < 0.6:
            block = _greenhouse_block(gh_rng, keep_in, layout.angle_deg)
            if block:
                scenery.extend(block)
                taken.extend(Polygon(o.footprint_local()) for o in block)

    def plant(kind: str, ident: str, area: BaseGeometry, avoid: BaseGeometry | None) -> None:
        spec = KIND_SPECS[kind]
        for _ in range(20):
            length = float(place_rng.uniform(*spec.length_m))
            width = float(place_rng.uniform(*spec.width_m))
            length, width = max(length, width), min(length, width)
            width = max(width, length / spec.aspect_max)
            # A shadow falls away from the sun (its pole at the sunward end), like all others.
            fixed = (scene.sun_azimuth_deg + 180.0) % 360.0 if kind == "shadow" else None
            spot = free_spot(
                place_rng, area, taken, avoid, length, width, gap_m=4.0, tries=40, heading_deg=fixed
            )
            if spot is None:
                continue
            x, y, heading = spot
            lon, lat = frame.to_wgs84(x, y)
            planted.append(
                PlantedObject(
                    id=ident,
                    class_name=kind,
                    lon=float(lon),
                    lat=float(lat),
                    heading_deg=heading,
                    length_m=length,
                    width_m=width,
                    x_m=x,
                    y_m=y,
                    is_violation=spec.violation,
                )
            )
            taken.append(footprint_polygon(x, y, heading, length, width))
            return
        role = "violations" if spec.violation else "distractors"
        raise WorldError(
            f"{role}: no room left for a {kind} in site {site.id!r} after {len(planted)} "
            "objects; plant fewer or use a larger keep-in area"
        )

    for i in range(violations):
        plant(order[i % len(order)], f"v{i:03d}", allowed, roads)
    d_order = [str(k) for k in place_rng.permutation(kinds)] if kinds else []
    for i in range(distractors):
        kind = d_order[i % len(d_order)]
        # Cars park on roads too; everything else keeps off them.
        plant(kind, f"d{i:03d}", allowed, None if kind == "parked_car" else roads)

    prims: list[Primitive] = []
    owners: list[str] = []
    if trees:
        occupied = shapely.union_all([t.buffer(1.0) for t in taken]) if taken else None
        for n_tree, (x, y, r) in enumerate(layout.trees):
            if occupied is not None and occupied.intersects(shapely.Point(x, y).buffer(r)):
                continue
            if roads is not None and roads.contains(shapely.Point(x, y)):
                continue
            scenery.append(
                PlantedObject(f"t{n_tree:04d}", "tree", 0.0, 0.0, 0.0, 2 * r, 2 * r, x, y, False)
            )
    for o in [*scenery, *planted]:
        drawn = draw_object(o, scene, int(seed))
        prims.extend(drawn)
        owners.extend([o.id] * len(drawn))

    x0 = math.floor(bounds[0])
    y1 = math.ceil(bounds[3])
    raster = GroundRaster(
        (x0, y1),
        layout.background,
        layout.patches,
        prims,
        resolution_m=resolution_m,
        max_tiles=max_tiles,
        seed=int(seed),
    )
    return World(
        site_id=str(site.id),
        seed=int(seed),
        frame=frame,
        keep_in_local=keep_in,
        bounds_m=bounds,
        scene=scene,
        violations=[o for o in planted if o.is_violation],
        distractors=[o for o in planted if not o.is_violation],
        layout=layout,
        raster=raster,
        scenery=scenery,
        primitives=prims,
        owners=owners,
    )
