"""Seeded ground layout: field parcels, roads and trees, and where planted objects go.

The ground is a set of :class:`GroundPatch` polygons (drawn in order, later over earlier)
with a colour and a texture (crop rows, furrows, plain noise). Parcels are a rotated grid of
fields of random size covering the whole world; roads run along some grid lines; trees line
the roads. Planted objects are placed by rejection sampling so they do not overlap each
other, roads or trees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GroundPatch:
    """A polygon of ground cover: base colour and texture parameters."""

    xy: FloatArray
    rgb: tuple[float, float, float]
    stripe_amp: float = 0.0
    stripe_angle_deg: float = 0.0
    stripe_period_m: float = 1.0
    grain: float = 0.08  # amplitude of fine noise on this cover


_FIELD_TYPES: list[tuple[str, float]] = [
    ("crop", 0.3),
    ("wheat", 0.15),
    ("ploughed", 0.18),
    ("bare", 0.1),
    ("meadow", 0.17),
    ("stubble", 0.1),
]


def _field_patch(rng: np.random.Generator, xy: FloatArray, angle: float) -> GroundPatch:
    names = [n for n, _ in _FIELD_TYPES]
    w = np.array([p for _, p in _FIELD_TYPES])
    kind = names[int(rng.choice(len(names), p=w / w.sum()))]
    j = rng.uniform(0.88, 1.12, 3)
    if kind == "crop":
        base = np.array([75, 115, 55]) * j
        return GroundPatch(xy, _rgb(base), rng.uniform(0.12, 0.3), angle, rng.uniform(0.5, 1.2))
    if kind == "wheat":
        base = np.array([160, 150, 85]) * j
        return GroundPatch(xy, _rgb(base), rng.uniform(0.05, 0.12), angle, rng.uniform(0.2, 0.4))
    if kind == "ploughed":
        base = np.array([120, 95, 70]) * j
        return GroundPatch(xy, _rgb(base), rng.uniform(0.12, 0.25), angle, rng.uniform(0.4, 0.9))
    if kind == "bare":
        base = np.array([150, 125, 95]) * j
        return GroundPatch(xy, _rgb(base), 0.0, angle, 1.0, 0.12)
    if kind == "stubble":
        base = np.array([185, 170, 120]) * j
        return GroundPatch(xy, _rgb(base), rng.uniform(0.08, 0.15), angle, rng.uniform(0.3, 0.6))
    base = np.array([95, 125, 65]) * j
    return GroundPatch(xy, _rgb(base), 0.0, angle, 1.0, 0.14)


def _rgb(a: FloatArray) -> tuple[float, float, float]:
    c = np.clip(a, 0, 255)
    return float(c[0]), float(c[1]), float(c[2])


def _rot(xy: FloatArray, angle_deg: float, about: tuple[float, float]) -> FloatArray:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    p = xy - np.array(about)
    return np.asarray(
        np.column_stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]]) + np.array(about)
    )


@dataclass
class Layout:
    """The ground of a world: patches (draw order), road polygons, tree positions."""

    background: tuple[float, float, float]
    angle_deg: float  # direction of the parcel grid
    patches: list[GroundPatch]
    roads: list[Polygon]
    trees: list[tuple[float, float, float]]  # x, y, crown radius


def make_layout(rng: np.random.Generator, bounds: tuple[float, float, float, float]) -> Layout:
    """Fields, roads and trees covering ``bounds`` (xmin, ymin, xmax, ymax local metres)."""
    xmin, ymin, xmax, ymax = bounds
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half = math.hypot(xmax - xmin, ymax - ymin) / 2 + 10
    angle = float(rng.uniform(0, 180))
    background = _rgb(np.array([100, 120, 70]) * rng.uniform(0.9, 1.1, 3))

    # Column and row edges of the parcel grid, in the grid's rotated frame.
    cols = [cx - half]
    while cols[-1] < cx + half:
        cols.append(cols[-1] + float(rng.uniform(30, 90)))
    rows = [cy - half]
    while rows[-1] < cy + half:
        rows.append(rows[-1] + float(rng.uniform(50, 160)))

    road_cols = (
        set(
            rng.choice(
                np.arange(1, len(cols) - 1), size=min(2, len(cols) - 2), replace=False
            ).tolist()
        )
        if len(cols) > 2
        else set()
    )
    if len(road_cols) > 1 and rng.uniform() < 0.5:
        road_cols.pop()
    road_rows = (
        {int(rng.integers(1, len(rows) - 1))} if len(rows) > 2 and rng.uniform() < 0.6 else set()
    )

    patches: list[GroundPatch] = []
    for i in range(len(cols) - 1):
        for k in range(len(rows) - 1):
            m = float(rng.uniform(0.8, 2.0))
            x0, x1, y0, y1 = cols[i] + m, cols[i + 1] - m, rows[k] + m, rows[k + 1] - m
            # Some parcels split in two along their length for variety.
            if rng.uniform() < 0.35 and x1 - x0 > 40:
                xm = float(rng.uniform(x0 + 15, x1 - 15))
                parts = [(x0, xm - m), (xm + m, x1)]
            else:
                parts = [(x0, x1)]
            for a, b in parts:
                xy = np.array([[a, y0], [b, y0], [b, y1], [a, y1]])
                stripe = angle + (90.0 if rng.uniform() < 0.3 else 0.0)
                patches.append(_field_patch(rng, _rot(xy, angle, (cx, cy)), 90.0 - stripe))

    roads: list[Polygon] = []
    for i in sorted(road_cols):
        w = float(rng.uniform(5.0, 7.0))
        asphalt = rng.uniform() < 0.6
        xy = np.array(
            [
                [cols[i] - w / 2, cy - half],
                [cols[i] + w / 2, cy - half],
                [cols[i] + w / 2, cy + half],
                [cols[i] - w / 2, cy + half],
            ]
        )
        roads.append(Polygon(_rot(xy, angle, (cx, cy))))
        colour = (105.0, 105.0, 108.0) if asphalt else (165.0, 150.0, 120.0)
        patches.append(GroundPatch(_rot(xy, angle, (cx, cy)), colour, 0.0, 0.0, 1.0, 0.05))
    for k in sorted(road_rows):
        w = float(rng.uniform(3.0, 4.5))
        xy = np.array(
            [
                [cx - half, rows[k] - w / 2],
                [cx + half, rows[k] - w / 2],
                [cx + half, rows[k] + w / 2],
                [cx - half, rows[k] + w / 2],
            ]
        )
        roads.append(Polygon(_rot(xy, angle, (cx, cy))))
        patches.append(
            GroundPatch(_rot(xy, angle, (cx, cy)), (160.0, 145.0, 115.0), 0.0, 0.0, 1.0, 0.1)
        )

    trees: list[tuple[float, float, float]] = []
    for road in roads:
        # A row of trees along one side of each road.
        coords = np.asarray(road.exterior.coords)[:4]
        a, b, c = coords[0], coords[1], coords[3]
        along = c - a
        length = float(np.linalg.norm(along))
        across = (b - a) / max(1e-9, float(np.linalg.norm(b - a)))
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        base = a + (b - a if side > 0 else 0) + across * side * 3.5
        s = float(rng.uniform(0, 5))
        while s < length:
            r = float(rng.uniform(1.8, 3.5))
            p = base + along / length * s + across * rng.normal(0, 0.4)
            if xmin - 20 < p[0] < xmax + 20 and ymin - 20 < p[1] < ymax + 20:
                trees.append((float(p[0]), float(p[1]), r))
            s += float(rng.uniform(5.5, 9.0))
    for _ in range(int(rng.integers(1, 4))):
        gx, gy = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        for _ in range(int(rng.integers(4, 15))):
            trees.append(
                (
                    float(gx + rng.normal(0, 8)),
                    float(gy + rng.normal(0, 8)),
                    float(rng.uniform(2.0, 4.5)),
                )
            )
    # Season, drawn last so the layout above is the same for a seed in every season: a third
    # of worlds are dry (late autumn, early spring), their vegetation turned towards straw.
    if rng.uniform() < 0.35:
        dry = float(rng.uniform(0.35, 0.65))
        straw = np.array([165.0, 148.0, 110.0])
        road_ids = set(range(len(patches) - len(roads), len(patches)))

        def wither(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
            return _rgb(np.array(rgb) * (1 - dry) + straw * dry)

        patches = [
            p if k in road_ids else replace(p, rgb=wither(p.rgb)) for k, p in enumerate(patches)
        ]
        background = wither(background)
    return Layout(background, angle, patches, roads, trees)


def footprint_polygon(
    x: float, y: float, heading_deg: float, length: float, width: float
) -> Polygon:
    """The footprint rectangle of an object as a shapely polygon (local metres)."""
    h = math.radians(heading_deg)
    du = np.array([math.sin(h), math.cos(h)]) * length / 2
    dv = np.array([math.cos(h), -math.sin(h)]) * width / 2
    c = np.array([x, y])
    return Polygon([c - du - dv, c + du - dv, c + du + dv, c - du + dv])


def free_spot(
    rng: np.random.Generator,
    area: BaseGeometry,
    taken: list[BaseGeometry],
    avoid: BaseGeometry | None,
    length: float,
    width: float,
    gap_m: float,
    tries: int = 300,
    heading_deg: float | None = None,
) -> tuple[float, float, float] | None:
    """A random (x, y, heading) whose footprint lies in ``area`` clear of the rest, or None."""
    xmin, ymin, xmax, ymax = area.bounds
    shapely.prepare(area)
    for _ in range(tries):
        x, y = float(rng.uniform(xmin, xmax)), float(rng.uniform(ymin, ymax))
        heading = float(rng.uniform(0, 180))
        if heading_deg is not None:
            heading = heading_deg
        fp = footprint_polygon(x, y, heading, length, width)
        if not area.contains(fp):
            continue
        grown = fp.buffer(gap_m)
        if avoid is not None and grown.intersects(avoid):
            continue
        if any(grown.intersects(t) for t in taken):
            continue
        return x, y, heading
    return None


def bounds_box(bounds: tuple[float, float, float, float]) -> Polygon:
    """The world's rectangle as a polygon."""
    return box(*bounds)
