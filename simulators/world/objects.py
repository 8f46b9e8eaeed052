"""Planted objects (ground truth) and the flat drawing recipes that make each kind look like itself.

An object is described in its own frame: ``u`` metres along its length axis (the heading,
clockwise from north) and ``v`` metres across it, to the right. Each recipe turns an object
into a list of :class:`Primitive` polygons in local east/north metres, drawn in order onto
the ground texture: shadows first (translucent black), then the body, then smoke
(translucent). Every recipe is seeded by the object, so a world draws the same every time
and tiles that split an object agree at the seam.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from simulators.world.kinds import KIND_SPECS

Color = tuple[int, int, int, int]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PlantedObject:
    """One planted thing with its ground truth.

    ``lon``/``lat`` are the centre of the footprint rectangle; ``heading_deg`` is the
    direction of its length axis (clockwise from north, 0-360; the footprint of h and h + 180
    is the same rectangle); ``x_m``/``y_m`` the same centre in the world's local frame
    (east, north metres).
    """

    id: str
    class_name: str
    lon: float
    lat: float
    heading_deg: float
    length_m: float
    width_m: float
    x_m: float = 0.0
    y_m: float = 0.0
    is_violation: bool = True

    def footprint_local(self) -> FloatArray:
        """The footprint rectangle's four corners, (4, 2) local east/north metres."""
        u = np.array([-0.5, 0.5, 0.5, -0.5]) * self.length_m
        v = np.array([-0.5, -0.5, 0.5, 0.5]) * self.width_m
        return to_world(self.x_m, self.y_m, self.heading_deg, u, v)


@dataclass
class Primitive:
    """A filled polygon in local metres with an RGBA fill (alpha < 255 blends)."""

    xy: FloatArray
    rgba: Color
    bounds: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        self.bounds = (
            float(self.xy[:, 0].min()),
            float(self.xy[:, 1].min()),
            float(self.xy[:, 0].max()),
            float(self.xy[:, 1].max()),
        )


@dataclass(frozen=True)
class Scene:
    """What every recipe may depend on besides the object: sun and wind of the world."""

    sun_azimuth_deg: float
    sun_elevation_deg: float
    wind_to_deg: float

    def shadow_offset(self, height_m: float) -> tuple[float, float]:
        """Ground displacement (east, north) of the shadow of a point height_m up."""
        length = height_m / math.tan(math.radians(self.sun_elevation_deg))
        az = math.radians(self.sun_azimuth_deg)
        return -length * math.sin(az), -length * math.cos(az)


def to_world(cx: float, cy: float, heading_deg: float, u: Any, v: Any) -> FloatArray:
    """Object-frame (u along heading, v to the right) to local (east, north), (N, 2)."""
    h = math.radians(heading_deg)
    du = np.array([math.sin(h), math.cos(h)])
    dv = np.array([math.cos(h), -math.sin(h)])
    u = np.asarray(u, dtype=np.float64)[:, None]
    v = np.asarray(v, dtype=np.float64)[:, None]
    return np.asarray(np.array([cx, cy]) + u * du + v * dv, dtype=np.float64)


def _blob(
    rng: np.random.Generator, ru: float, rv: float, n: int = 28, rough: float = 0.25
) -> tuple[FloatArray, FloatArray]:
    """An irregular closed outline inside the ellipse of radii (ru, rv), object frame."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in (2, 3, 5):
        r += rough / k * rng.uniform(0.5, 1.0) * np.sin(k * t + rng.uniform(0, 2 * math.pi))
    r += rng.uniform(-rough * 0.3, rough * 0.3, n)
    r = np.clip(r / r.max(), 0.3, 1.0)
    return ru * r * np.cos(t), rv * r * np.sin(t)


def _jitter(
    rng: np.random.Generator, rgb: tuple[int, int, int], amount: float, a: int = 255
) -> Color:
    f = rng.uniform(1.0 - amount, 1.0 + amount)
    n = rng.normal(0.0, amount * 40.0, 3)
    c = [min(255, max(0, int(x * f + d))) for x, d in zip(rgb, n.tolist(), strict=True)]
    return (c[0], c[1], c[2], a)


def _shade(rgb: Color, f: float) -> Color:
    return (
        min(255, max(0, int(rgb[0] * f))),
        min(255, max(0, int(rgb[1] * f))),
        min(255, max(0, int(rgb[2] * f))),
        rgb[3],
    )


class _Pen:
    """Collects primitives for one object, in its frame."""

    def __init__(self, obj: PlantedObject, scene: Scene) -> None:
        self.obj = obj
        self.scene = scene
        self.items: list[Primitive] = []

    def poly(self, u: Any, v: Any, rgba: Color) -> None:
        xy = to_world(self.obj.x_m, self.obj.y_m, self.obj.heading_deg, u, v)
        self.items.append(Primitive(xy, rgba))

    def rect(self, u0: float, v0: float, u1: float, v1: float, rgba: Color) -> None:
        self.poly([u0, u1, u1, u0], [v0, v0, v1, v1], rgba)

    def shadow(self, u: Any, v: Any, height_m: float, alpha: int = 120) -> None:
        """Shadow of a prism of outline (u, v) and given height: hull of base and top."""
        base = to_world(self.obj.x_m, self.obj.y_m, self.obj.heading_deg, u, v)
        dx, dy = self.scene.shadow_offset(height_m)
        pts = np.vstack([base, base + np.array([dx, dy])])
        self.items.append(Primitive(_convex_hull(pts), (0, 0, 0, alpha)))

    def sunlit(self, normal_uv: tuple[float, float]) -> float:
        """Brightness factor of a roof face whose downslope direction is normal_uv."""
        h = math.radians(self.obj.heading_deg)
        e = normal_uv[0] * math.sin(h) + normal_uv[1] * math.cos(h)
        n = normal_uv[0] * math.cos(h) - normal_uv[1] * math.sin(h)
        az = math.radians(self.scene.sun_azimuth_deg)
        return 1.0 + 0.22 * (e * math.sin(az) + n * math.cos(az))


def _convex_hull(pts: FloatArray) -> FloatArray:
    """Convex hull of (N, 2) points as an (M, 2) ring without the closing point."""
    hull = shapely.convex_hull(shapely.multipoints(pts))
    if hull.geom_type != "Polygon":
        return np.asarray(pts, dtype=np.float64)
    return np.asarray(shapely.get_coordinates(hull)[:-1], dtype=np.float64)


# --- violation recipes -------------------------------------------------------------------


def _gable_roof(
    pen: _Pen, rng: np.random.Generator, lh: float, wh: float, base: Color, rib_along_v: bool
) -> None:
    """Two roof faces split at the ridge (v = 0) with ribs or tile rows and an edge line."""
    for side in (-1.0, 1.0):
        f = pen.sunlit((0.0, side))
        pen.rect(-lh, 0.0 if side > 0 else -wh, lh, wh if side > 0 else 0.0, _shade(base, f))
    spacing = rng.uniform(0.25, 0.45)
    dark = _shade(base, 0.82)
    if rib_along_v:
        # Corrugated steel: ribs run from the ridge down to the eaves.
        for u in np.arange(-lh + spacing / 2, lh, spacing):
            pen.rect(u, -wh, u + spacing * 0.35, wh, dark)
    else:
        # Tiles: rows parallel to the ridge.
        for v in np.arange(spacing / 2, wh, spacing):
            pen.rect(-lh, v, lh, v + spacing * 0.3, dark)
            pen.rect(-lh, -v - spacing * 0.3, lh, -v, dark)
    ridge = _shade(base, 1.15)
    pen.rect(-lh, -0.12, lh, 0.12, ridge)


def _illegal_construction(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    variant = rng.uniform()
    height = rng.uniform(3.0, 7.0) if variant < 0.85 else rng.uniform(1.2, 2.5)
    pen.shadow([-lh, lh, lh, -lh], [-wh, -wh, wh, wh], height, int(rng.uniform(90, 150)))
    if variant >= 0.85:
        _brick_extension(pen, rng, lh, wh)
    elif variant < 0.7:
        blues = [(45, 95, 185), (60, 120, 200), (30, 80, 160), (70, 140, 210), (90, 150, 190)]
        base = _jitter(rng, blues[int(rng.integers(len(blues)))], 0.12)
        if rng.uniform() < 0.7:
            _gable_roof(pen, rng, lh, wh, base, rib_along_v=True)
        else:
            pen.rect(-lh, -wh, lh, wh, base)
            spacing = rng.uniform(0.25, 0.45)
            for u in np.arange(-lh, lh, spacing):
                pen.rect(u, -wh, u + spacing * 0.35, wh, _shade(base, 0.8))
        # Skylights / rust streaks give size-independent texture.
        for _ in range(int(rng.integers(0, 4))):
            u0 = rng.uniform(-lh, lh - 1.0)
            pen.rect(u0, -wh * 0.9, u0 + rng.uniform(0.5, 1.2), wh * 0.9, (225, 230, 235, 200))
        pen.rect(-lh, -wh, lh, -wh + 0.15, _shade(base, 0.6))
        pen.rect(-lh, wh - 0.15, lh, wh, _shade(base, 0.6))
    else:
        # A new structure under construction: slab, column grid, brick walls going up.
        slab = _jitter(rng, (165, 165, 160), 0.08)
        pen.rect(-lh, -wh, lh, wh, slab)
        step = rng.uniform(3.0, 4.5)
        for u in np.arange(-lh + 0.3, lh, step):
            for v in np.arange(-wh + 0.3, wh, step):
                pen.rect(u, v, u + 0.45, v + 0.45, (70, 70, 70, 255))
        brick = _jitter(rng, (160, 85, 60), 0.1)
        pen.rect(-lh, -wh, lh, -wh + 0.3, brick)
        pen.rect(-lh, -wh, -lh + 0.3, wh, brick)
        if rng.uniform() < 0.6:
            pen.rect(-lh, wh - 0.3, lh, wh, brick)
        for _ in range(int(rng.integers(3, 9))):
            u0, v0 = rng.uniform(-lh, lh - 1), rng.uniform(-wh, wh - 1)
            pen.rect(u0, v0, u0 + rng.uniform(0.8, 2.0), v0 + 0.08, (60, 45, 40, 255))


def _brick_extension(pen: _Pen, rng: np.random.Generator, lh: float, wh: float) -> None:
    """Unroofed brick walls going up: rooms, door gaps, a floor littered with material."""
    floor = _jitter(rng, (150, 140, 125), 0.08)
    pen.rect(-lh, -wh, lh, wh, floor)
    brick = _jitter(rng, (165, 85, 60), 0.1)
    t = rng.uniform(0.24, 0.37)
    # Outer walls, one with a door gap.
    gap = rng.uniform(-lh * 0.6, lh * 0.5)
    pen.rect(-lh, -wh, gap, -wh + t, brick)
    pen.rect(gap + 1.0, -wh, lh, -wh + t, brick)
    pen.rect(-lh, wh - t, lh, wh, brick)
    pen.rect(-lh, -wh, -lh + t, wh, brick)
    pen.rect(lh - t, -wh, lh, wh, brick)
    # Partition walls into rooms, each with a doorway.
    for u in np.sort(rng.uniform(-lh * 0.6, lh * 0.6, int(rng.integers(1, 4)))):
        door = rng.uniform(-wh * 0.6, wh * 0.4)
        pen.rect(u, -wh, u + t, door, brick)
        pen.rect(u, door + 0.9, u + t, wh, brick)
    # Mortar courses on the wall tops read as a fine dark texture.
    for v in (-wh + t / 2, wh - t / 2):
        pen.rect(-lh, v - 0.02, lh, v + 0.02, _shade(brick, 0.7))
    for _ in range(int(rng.integers(2, 6))):
        u0, v0 = rng.uniform(-lh + 0.5, lh - 1.5), rng.uniform(-wh + 0.5, wh - 1.2)
        pen.rect(u0, v0, u0 + rng.uniform(0.6, 1.2), v0 + rng.uniform(0.4, 0.8), _shade(brick, 0.9))


# Mostly dull rubble, soil, paper and grey plastic; a few bright bags and bottles.
_DEBRIS = [
    ((225, 225, 218), 3.0),
    ((190, 188, 180), 3.0),
    ((140, 138, 132), 3.0),
    ((105, 95, 80), 2.0),
    ((150, 115, 80), 2.0),
    ((35, 35, 38), 2.0),
    ((165, 90, 65), 1.5),
    ((70, 110, 170), 1.0),
    ((80, 130, 70), 0.7),
    ((200, 180, 70), 0.5),
    ((185, 70, 60), 0.5),
]
_DEBRIS_P = np.array([w for _, w in _DEBRIS]) / sum(w for _, w in _DEBRIS)


def _waste_dumping(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    # One main heap filling the footprint, and sometimes smaller heaps tipped beside it.
    centres = []
    for k in range(int(rng.integers(1, 4))):
        f = 0.95 if k == 0 else rng.uniform(0.3, 0.5)
        ru, rv = lh * f, wh * f
        cu = 0.0 if k == 0 else rng.uniform(-lh + ru, lh - ru)
        cv = 0.0 if k == 0 else rng.uniform(-wh + rv, wh - rv)
        bu, bv = _blob(rng, ru, rv, rough=0.4)
        pen.shadow(cu + bu, cv + bv, rng.uniform(0.4, 1.2), 90)
        centres.append((cu, cv, ru, rv, bu, bv))
    base = _jitter(rng, (115, 105, 92), 0.12)
    for cu, cv, ru, rv, bu, bv in centres:
        pen.poly(cu + bu, cv + bv, base)
        # Lumps: lighter towards the sun, darker away, so a heap reads as a heap.
        for _ in range(int(rng.integers(3, 7))):
            a, r = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform()) * 0.6
            lu, lv = _blob(rng, ru * rng.uniform(0.15, 0.35), rv * rng.uniform(0.15, 0.35), 14)
            pen.poly(
                cu + ru * r * math.cos(a) + lu,
                cv + rv * r * math.sin(a) + lv,
                _shade(base, rng.uniform(0.8, 1.2)),
            )
    area = o.length_m * o.width_m
    for _ in range(int(min(900, 16 * area))):
        cu, cv, ru, rv, _, _ = centres[int(rng.integers(len(centres)))]
        a, r = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform()) * 0.85
        pu, pv = cu + ru * r * math.cos(a), cv + rv * r * math.sin(a)
        s = rng.uniform(0.08, 0.4)
        n = int(rng.integers(3, 6))
        t = np.sort(rng.uniform(0, 2 * math.pi, n))
        rr = s * rng.uniform(0.5, 1.0, n)
        col = _jitter(rng, _DEBRIS[int(rng.choice(len(_DEBRIS), p=_DEBRIS_P))][0], 0.12)
        pen.poly(pu + rr * np.cos(t), pv + rr * np.sin(t), col)


def _open_burning(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    if rng.uniform() < 0.4:
        _straw_burning(pen, rng, lh, wh)
        return
    bu, bv = _blob(rng, lh * 0.98, wh * 0.98, rough=0.35)
    pen.poly(bu * 1.0, bv * 1.0, _jitter(rng, (95, 70, 45), 0.1))  # scorched rim
    pen.poly(bu * 0.9, bv * 0.9, _jitter(rng, (32, 30, 28), 0.06))
    for _ in range(int(rng.integers(2, 7))):
        au, av = _blob(rng, lh * rng.uniform(0.1, 0.3), wh * rng.uniform(0.1, 0.3), rough=0.5)
        cu, cv = rng.uniform(-lh * 0.5, lh * 0.5), rng.uniform(-wh * 0.5, wh * 0.5)
        pen.poly(cu + au, cv + av, _jitter(rng, (105, 102, 98), 0.12))
    # Flames along the downwind front of the burn.
    wind = math.radians(pen.scene.wind_to_deg - o.heading_deg)
    wu, wv = math.cos(wind), math.sin(wind)
    fu, fv = wu * lh * 0.55, wv * wh * 0.55
    for _ in range(int(rng.integers(4, 12))):
        cu = fu + rng.normal(0, lh * 0.2) * -wv
        cv = fv + rng.normal(0, wh * 0.2) * wu
        fu_, fv_ = _blob(rng, rng.uniform(0.3, 1.1), rng.uniform(0.3, 0.9), n=12, rough=0.6)
        pen.poly(cu + fu_, cv + fv_, _jitter(rng, (240, 120, 30), 0.1))
        pen.poly(cu + fu_ * 0.5, cv + fv_ * 0.5, _jitter(rng, (255, 215, 90), 0.05))
    # Smoke drifts downwind, thickening and widening; translucent so the burn shows through.
    grey = rng.uniform(150, 235)
    for k in range(int(rng.integers(6, 14))):
        s = k / 10.0
        cu = float(np.clip(fu + wu * lh * 0.6 * s + rng.normal(0, 0.6), -lh * 0.8, lh * 0.8))
        cv = float(np.clip(fv + wv * wh * 0.6 * s + rng.normal(0, 0.6), -wh * 0.8, wh * 0.8))
        r = min(lh, wh) * (0.2 + 0.3 * s) * rng.uniform(0.8, 1.2)
        su, sv = _blob(rng, r, r * rng.uniform(0.6, 1.0), n=16, rough=0.3)
        g = int(grey + rng.normal(0, 10))
        pen.poly(cu + su, cv + sv, (g, g, min(255, g + 4), int(rng.uniform(50, 100))))


def _straw_burning(pen: _Pen, rng: np.random.Generator, lh: float, wh: float) -> None:
    """Straw burning in a field: a charred strip of stubble rows behind a line of fire."""
    wind = math.radians(pen.scene.wind_to_deg - pen.obj.heading_deg)
    side = 1.0 if math.sin(wind) >= 0 else -1.0  # the fire front runs downwind
    u = np.linspace(-lh * 0.97, lh * 0.97, 18)
    lo = -wh * 0.95 + rng.uniform(0, wh * 0.15, len(u))
    hi = wh * 0.95 - rng.uniform(0, wh * 0.15, len(u))
    pen.poly(np.concatenate([u, u[::-1]]), np.concatenate([lo, hi[::-1]]), (38, 34, 30, 255))
    # Half-burnt rows: ash lines along the field's rows.
    ash = _jitter(rng, (120, 115, 108), 0.1, a=170)
    for v in np.arange(-wh * 0.85, wh * 0.85, rng.uniform(0.5, 0.9)):
        pen.rect(-lh * 0.9, v, lh * 0.9, v + 0.12, ash)
    front = side * wh * 0.85
    for uc in np.arange(-lh * 0.9, lh * 0.9, rng.uniform(0.6, 1.2)):
        fu, fv = _blob(rng, rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.45), n=10, rough=0.6)
        pen.poly(uc + fu, front + fv, _jitter(rng, (240, 120, 30), 0.1))
        pen.poly(uc + fu * 0.5, front + fv * 0.5, _jitter(rng, (255, 215, 90), 0.05))
    grey = rng.uniform(170, 235)
    for uc in np.arange(-lh * 0.8, lh * 0.8, max(1.0, lh / 5)):
        r = wh * rng.uniform(0.3, 0.45)
        su, sv = _blob(rng, r * 1.3, r, n=16, rough=0.3)
        g = int(grey + rng.normal(0, 8))
        pen.poly(uc + su, front * 0.6 + sv, (g, g, min(255, g + 4), int(rng.uniform(50, 95))))


def _excavator(pen: _Pen, rng: np.random.Generator, cu: float, cv: float) -> None:
    a = rng.uniform(0, 2 * math.pi)
    ca, sa = math.cos(a), math.sin(a)

    def part(u0: float, v0: float, u1: float, v1: float, rgba: Color) -> None:
        uu = np.array([u0, u1, u1, u0])
        vv = np.array([v0, v0, v1, v1])
        pen.poly(cu + uu * ca - vv * sa, cv + uu * sa + vv * ca, rgba)

    body = _jitter(rng, (225, 170, 30) if rng.uniform() < 0.8 else (230, 110, 30), 0.08)
    pen.shadow(
        cu + np.array([-2.0, 2.0, 2.0, -2.0]) * ca - np.array([-1.4, -1.4, 1.4, 1.4]) * sa,
        cv + np.array([-2.0, 2.0, 2.0, -2.0]) * sa + np.array([-1.4, -1.4, 1.4, 1.4]) * ca,
        2.8,
        130,
    )
    part(-2.2, -1.5, 2.2, -0.9, (40, 40, 40, 255))
    part(-2.2, 0.9, 2.2, 1.5, (40, 40, 40, 255))
    part(-1.6, -1.2, 1.4, 1.2, body)
    part(0.2, -1.1, 1.3, -0.1, (50, 60, 70, 255))
    part(1.2, -0.25, 5.5, 0.25, _shade(body, 0.9))
    part(5.3, -0.5, 6.0, 0.5, (70, 65, 60, 255))


def _illegal_excavation(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    # The pit takes the first part of the footprint, spoil heaps the rest.
    f_pit = rng.uniform(0.6, 0.8)
    pit_c = -lh + lh * f_pit
    pit_ru, pit_rv = lh * f_pit * 0.92, wh * 0.9
    pu, pv = _blob(rng, pit_ru, pit_rv, rough=0.3)
    soil = _jitter(rng, (140, 105, 70), 0.12)
    pen.poly(pit_c + pu * 1.08, pv * 1.05, _shade(soil, 1.15))
    for k, f in enumerate((1.0, 0.75, 0.5)):
        pen.poly(pit_c + pu * f, pv * f, _shade(soil, 0.78 - 0.13 * k))
    if rng.uniform() < 0.4:
        pen.poly(pit_c + pu * 0.3, pv * 0.3, _jitter(rng, (70, 85, 65), 0.1))
    spoil = _jitter(rng, (185, 145, 95), 0.1)
    s_u0 = pit_c + pit_ru * 1.05
    for _ in range(int(rng.integers(1, 4))):
        ru = max(0.5, (lh - s_u0) * rng.uniform(0.3, 0.5))
        rv = wh * rng.uniform(0.2, 0.45)
        cu = rng.uniform(s_u0 + ru, max(s_u0 + ru, lh - ru))
        cv = rng.uniform(-wh + rv, wh - rv)
        bu, bv = _blob(rng, ru, rv, rough=0.3)
        pen.shadow(cu + bu, cv + bv, rng.uniform(1.0, 2.5), 80)
        pen.poly(cu + bu, cv + bv, spoil)
        pen.poly(cu + bu * 0.6 + ru * 0.1, cv + bv * 0.6, _shade(spoil, 1.12))
    # Track marks on the spoil side, where machines drive.
    for _ in range(int(rng.integers(1, 4))):
        v0 = rng.uniform(-wh * 0.7, wh * 0.7)
        pen.rect(s_u0, v0, lh * 0.95, v0 + 0.45, _shade(soil, 0.85))
    if rng.uniform() < 0.75:
        _excavator(pen, rng, s_u0 - rng.uniform(0.0, 2.0), rng.uniform(-wh * 0.4, wh * 0.4))


_MATERIALS = [
    ("bricks", (165, 80, 55)),
    ("pipes", (150, 155, 160)),
    ("timber", (190, 155, 105)),
    ("gravel", (170, 165, 150)),
    ("bricks", (150, 90, 70)),
    ("pipes", (120, 125, 135)),
    ("gravel", (140, 130, 115)),
    ("container", (40, 110, 170)),
    ("container", (170, 50, 40)),
    ("container", (210, 120, 40)),
]


def _illegal_land_occupation(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    yard = _jitter(rng, (150, 145, 130) if rng.uniform() < 0.6 else (120, 110, 95), 0.08)
    pen.rect(-lh, -wh, lh, wh, yard)
    fence = _jitter(rng, (90, 95, 95), 0.2)
    t = 0.15
    gate = rng.uniform(-lh * 0.6, lh * 0.4)
    pen.rect(-lh, -wh, gate, -wh + t, fence)
    pen.rect(gate + 4.0, -wh, lh, -wh + t, fence)
    pen.rect(-lh, wh - t, lh, wh, fence)
    pen.rect(-lh, -wh, -lh + t, wh, fence)
    pen.rect(lh - t, -wh, lh, wh, fence)
    for u in np.arange(-lh, lh, 2.5):
        for v in (-wh, wh - 0.3):
            pen.rect(u, v, u + 0.3, v + 0.3, (50, 50, 50, 255))
    # Rows of stacked materials with aisles between them.
    u = -lh + rng.uniform(1.0, 2.5)
    while u < lh - 2.5:
        length = min(rng.uniform(2.0, 7.0), lh - 1.0 - u)
        v = -wh + rng.uniform(1.0, 2.0)
        while v < wh - 1.5:
            width = min(rng.uniform(1.0, 2.6), wh - 1.0 - v)
            kind, rgb = _MATERIALS[int(rng.integers(len(_MATERIALS)))]
            col = _jitter(rng, rgb, 0.1)
            h = rng.uniform(0.8, 2.6)
            pen.shadow([u, u + length, u + length, u], [v, v, v + width, v + width], h, 110)
            pen.rect(u, v, u + length, v + width, col)
            if kind == "bricks":
                for uu in np.arange(u, u + length, 0.5):
                    pen.rect(uu, v, uu + 0.06, v + width, _shade(col, 0.75))
            elif kind == "pipes":
                for vv in np.arange(v, v + width, 0.2):
                    pen.rect(u, vv, u + length, vv + 0.07, _shade(col, 0.7))
            elif kind == "timber":
                for vv in np.arange(v, v + width, 0.3):
                    pen.rect(u, vv, u + length, vv + 0.05, _shade(col, 0.8))
            elif kind == "container":
                for uu in np.arange(u, u + length, 0.3):
                    pen.rect(uu, v, uu + 0.1, v + width, _shade(col, 0.85))
            v += width + rng.uniform(0.6, 2.0)
        u += length + rng.uniform(1.5, 3.5)


# --- distractor recipes ------------------------------------------------------------------


def _legal_building(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    pen.shadow([-lh, lh, lh, -lh], [-wh, -wh, wh, wh], rng.uniform(4.0, 9.0), 130)
    roofs = [(170, 70, 50), (150, 60, 45), (120, 120, 125), (95, 95, 100), (140, 100, 80)]
    base = _jitter(rng, roofs[int(rng.integers(len(roofs)))], 0.1)
    if rng.uniform() < 0.8:
        _gable_roof(pen, rng, lh, wh, base, rib_along_v=False)
    else:
        pen.rect(-lh, -wh, lh, wh, _shade(base, 1.2))
        pen.rect(-lh + 0.4, -wh + 0.4, lh - 0.4, wh - 0.4, base)
        if rng.uniform() < 0.5:
            pen.rect(lh * 0.3, -wh * 0.5, lh * 0.6, wh * 0.2, (180, 180, 185, 255))


def _parked_car(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    pen.shadow([-lh, lh, lh, -lh], [-wh, -wh, wh, wh], 1.5, 130)
    colours = [
        (235, 235, 235),
        (180, 182, 185),
        (25, 25, 28),
        (170, 30, 30),
        (40, 80, 170),
        (30, 60, 140),
        (120, 125, 130),
    ]
    body = _jitter(rng, colours[int(rng.integers(len(colours)))], 0.06)
    u = np.array([-lh, lh - 0.3, lh, lh, lh - 0.3, -lh])
    v = np.array([-wh, -wh, -wh + 0.3, wh - 0.3, wh, wh])
    pen.poly(u, v, body)
    glass = (35, 40, 48, 255)
    pen.rect(lh * 0.15, -wh * 0.8, lh * 0.5, wh * 0.8, glass)
    pen.rect(-lh * 0.75, -wh * 0.75, -lh * 0.5, wh * 0.75, glass)
    pen.rect(-lh * 0.5, -wh * 0.7, lh * 0.15, wh * 0.7, _shade(body, 1.08))


def _haystack(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    straw = _jitter(rng, (205, 170, 90), 0.1)
    if rng.uniform() < 0.7:
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        pen.shadow(lh * np.cos(t), wh * np.sin(t), rng.uniform(1.5, 3.5), 120)
        dx, dy = pen.scene.shadow_offset(-1.0)
        h = math.radians(o.heading_deg)
        su = (dx * math.sin(h) + dy * math.cos(h)) * 0.15
        sv = (dx * math.cos(h) - dy * math.sin(h)) * 0.15
        for k, f in enumerate((1.0, 0.8, 0.6, 0.4, 0.2)):
            pen.poly(
                su * (1 - f) + lh * f * np.cos(t),
                sv * (1 - f) + wh * f * np.sin(t),
                _shade(straw, 0.75 + 0.1 * k),
            )
    else:
        pen.shadow([-lh, lh, lh, -lh], [-wh, -wh, wh, wh], rng.uniform(1.0, 2.5), 120)
        step = rng.uniform(1.0, 1.5)
        for u in np.arange(-lh, lh - 0.2, step):
            pen.rect(u, -wh, min(u + step - 0.1, lh), wh, _shade(straw, rng.uniform(0.85, 1.1)))


def _water(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    bu, bv = _blob(rng, o.length_m / 2, o.width_m / 2, rough=0.3)
    pen.poly(bu, bv, _jitter(rng, (110, 120, 90), 0.1))
    deep = [(40, 70, 80), (35, 60, 90), (50, 80, 70), (60, 85, 95)]
    col = _jitter(rng, deep[int(rng.integers(len(deep)))], 0.1)
    pen.poly(bu * 0.9, bv * 0.9, col)
    pen.poly(bu * 0.6, bv * 0.6, _shade(col, 0.9))
    if rng.uniform() < 0.5:
        pen.poly(bu * 0.15 + o.length_m * 0.1, bv * 0.1, (200, 210, 215, 110))


def _long_shadow(pen: _Pen, rng: np.random.Generator) -> None:
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    taper = rng.uniform(0.3, 1.0)
    pen.poly(
        [-lh, lh, lh, -lh],
        [-wh, -wh * taper, wh * taper, wh],
        (0, 0, 0, int(rng.uniform(110, 170))),
    )
    pen.rect(-lh, -0.3, -lh + 0.6, 0.3, (90, 90, 90, 255))


def tree(pen: _Pen, rng: np.random.Generator) -> None:
    """Scenery tree: a lumpy crown and its shadow (not a planted object)."""
    o = pen.obj
    r = o.length_m / 2
    bu, bv = _blob(rng, r, r, n=18, rough=0.3)
    pen.shadow(bu, bv, rng.uniform(4.0, 10.0), 120)
    crown = _jitter(rng, (55, 90, 45), 0.15)
    pen.poly(bu, bv, crown)
    dx, dy = pen.scene.shadow_offset(-r)
    h = math.radians(o.heading_deg)
    su = (dx * math.sin(h) + dy * math.cos(h)) * 0.3
    sv = (dx * math.cos(h) - dy * math.sin(h)) * 0.3
    pen.poly(bu * 0.55 + su, bv * 0.55 + sv, _shade(crown, 1.25))


def greenhouse(pen: _Pen, rng: np.random.Generator) -> None:
    """Scenery: one plastic-film tunnel of a greenhouse block (a legal look-alike of sheds)."""
    o = pen.obj
    lh, wh = o.length_m / 2, o.width_m / 2
    pen.shadow([-lh, lh, lh, -lh], [-wh, -wh, wh, wh], rng.uniform(2.5, 3.5), 90)
    tint = [(222, 226, 228), (210, 220, 215), (200, 208, 222), (230, 230, 225)]
    film = _jitter(rng, tint[int(rng.integers(len(tint)))], 0.05)
    for side in (-1.0, 1.0):
        f = pen.sunlit((0.0, side))
        pen.rect(-lh, 0.0 if side > 0 else -wh, lh, wh if side > 0 else 0.0, _shade(film, f))
    for u in np.arange(-lh + 0.75, lh, rng.uniform(1.2, 2.0)):
        pen.rect(u, -wh, u + 0.08, wh, _shade(film, 0.85))
    pen.rect(-lh, -0.1, lh, 0.1, _shade(film, 1.08))
    pen.rect(-lh, -wh, lh, -wh + 0.25, _shade(film, 0.7))
    pen.rect(-lh, wh - 0.25, lh, wh, _shade(film, 0.7))


RECIPES: dict[str, Callable[[_Pen, np.random.Generator], None]] = {
    "illegal_construction": _illegal_construction,
    "waste_dumping": _waste_dumping,
    "open_burning": _open_burning,
    "illegal_excavation": _illegal_excavation,
    "illegal_land_occupation": _illegal_land_occupation,
    "legal_building": _legal_building,
    "parked_car": _parked_car,
    "haystack": _haystack,
    "water": _water,
    "shadow": _long_shadow,
    "tree": tree,
    "greenhouse": greenhouse,
}

assert set(KIND_SPECS) <= set(RECIPES)


def draw_object(obj: PlantedObject, scene: Scene, seed: int) -> list[Primitive]:
    """The primitives of ``obj`` (deterministic for the object and the world seed)."""
    rng = np.random.default_rng([seed, abs(hash_id(obj.id))])
    pen = _Pen(obj, scene)
    RECIPES[obj.class_name](pen, rng)
    return pen.items


def hash_id(text: str) -> int:
    """A stable (process-independent) integer for a string id."""
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 63)
    return h
