"""The world's orthomosaic: a ground texture rasterised lazily by tile, with a mip pyramid.

Level 0 has ``resolution_m`` metres per pixel (default 5 cm, about twice finer than the
camera sees at 60 m with a 1280 px frame); level L is 2**L times coarser, averaged from the
level below, and serves oblique and high frames without aliasing or huge crops. Tiles are
square (``tile_px``), built on first use and kept in a bounded LRU cache, so a survey only
pays for the ground it sees and memory stays bounded. Pixel (row, col) of level L covers
local x in [x0 + col*s, x0 + (col+1)*s) and y in (y1 - (row+1)*s, y1 - row*s], s the level's
pixel size.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageDraw
from shapely.geometry import box

from simulators.world.layout import GroundPatch
from simulators.world.objects import Primitive

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

_BANK = 1024  # period of the fine noise bank, pixels
_COARSE = 256  # period of the coarse noise bank, coarse pixels
_COARSE_M = 1.6  # metres per coarse-bank pixel


def _periodic(rng: np.random.Generator, n: int, slope: float, low_cut: float) -> F32:
    """Periodic 1/f-like noise of unit variance (an n x n torus), by FFT filtering."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)[:, None] ** 2 + np.fft.rfftfreq(n)[None, :] ** 2
    f[0, 0] = 1.0
    amp = f ** (-slope / 2) * (f > low_cut**2)
    field = np.fft.irfft2(np.fft.rfft2(white) * amp, s=(n, n))
    field /= field.std() + 1e-12
    return np.asarray(np.clip(field, -3, 3).astype(np.float32))


@lru_cache(maxsize=1)
def _fine_bank() -> F32:
    """Fine texture noise, padded with its own wrap so any tile-sized window is a slice."""
    bank = _periodic(np.random.default_rng(20261127), _BANK, 1.2, 1.0 / 256)
    return np.asarray(np.pad(bank, ((0, 512), (0, 512)), mode="wrap"))


@lru_cache(maxsize=1)
def _grain_u8() -> U8:
    """Additive per-pixel grain (sigma 2.5 levels) laid over everything, stored + 128."""
    rng = np.random.default_rng(20261128)
    g = rng.normal(0.0, 2.5, (_BANK, _BANK)).round() + 128
    g3 = np.repeat(g.astype(np.uint8)[:, :, None], 3, axis=2)
    return np.asarray(np.pad(g3, ((0, 512), (0, 512), (0, 0)), mode="wrap"))


@lru_cache(maxsize=1)
def coarse_bank() -> F32:
    return _periodic(np.random.default_rng(20261129), _COARSE, 1.6, 1.0 / 128)


def _interp_weights(
    start_m: float, step_m: float, m: int, offset: int
) -> tuple[F32, NDArray[np.int64]]:
    """For m cells of ``step_m`` from ``start_m``: lower coarse-bank index and weight."""
    g = (start_m + (np.arange(m, dtype=np.float64) + 0.5) * step_m) / _COARSE_M - 0.5
    lo = np.floor(g)
    return (g - lo).astype(np.float32), (lo.astype(np.int64) + offset) % _COARSE


class GroundRaster:
    """Lazily rasterised ground texture of a world; ``crop`` gives any window of any level."""

    def __init__(
        self,
        origin: tuple[float, float],
        background: tuple[float, float, float],
        patches: list[GroundPatch],
        primitives: list[Primitive],
        resolution_m: float = 0.05,
        tile_px: int = 512,
        max_tiles: int = 320,
        seed: int = 0,
    ) -> None:
        self.x0, self.y1 = origin
        self.resolution_m = float(resolution_m)
        if tile_px not in (128, 256, 512):
            raise ValueError(f"tile_px={tile_px}: use 128, 256 or 512")
        self.tile_px = int(tile_px)
        self.max_tiles = int(max_tiles)
        self._background = background
        self._patches = patches
        self._primitives = primitives
        self._patch_tree = shapely.STRtree([shapely.Polygon(p.xy) for p in patches])
        b = np.array([p.bounds for p in primitives], dtype=np.float64).reshape(-1, 4)
        self._prim_tree = shapely.STRtree(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
        n = len(patches) + 1
        self._colour = np.zeros((n, 3), np.float32)
        self._colour[0] = background
        self._amp = np.zeros(n, np.float32)
        self._cos = np.ones(n, np.float32)
        self._sin = np.zeros(n, np.float32)
        self._period = np.ones(n, np.float32)
        self._grain = np.full(n, 0.12, np.float32)
        for k, p in enumerate(patches, start=1):
            self._colour[k] = p.rgb
            self._amp[k] = p.stripe_amp
            a = math.radians(p.stripe_angle_deg)
            self._cos[k], self._sin[k] = math.cos(a), math.sin(a)
            self._period[k] = p.stripe_period_m
            self._grain[k] = p.grain
        self._colour_planes = [np.ascontiguousarray(self._colour[:, c]) for c in range(3)]
        rng = np.random.default_rng([seed, 7])
        self._offset = (int(rng.integers(_BANK)), int(rng.integers(_BANK)))
        self._coffset = (int(rng.integers(_COARSE)), int(rng.integers(_COARSE)))
        self._tiles: OrderedDict[tuple[int, int, int], U8] = OrderedDict()
        self._lock = threading.Lock()
        self.tiles_built = 0

    def pixel_size(self, level: int) -> float:
        return self.resolution_m * (1 << level)

    # --- tiles ---------------------------------------------------------------------------

    def tile(self, level: int, ti: int, tj: int) -> U8:
        """Tile (row ti, column tj) of ``level``, built on first use."""
        key = (level, ti, tj)
        with self._lock:
            t = self._tiles.get(key)
            if t is not None:
                self._tiles.move_to_end(key)
                return t
        t = self._build(level, ti, tj)
        with self._lock:
            self._tiles[key] = t
            while len(self._tiles) > self.max_tiles:
                self._tiles.popitem(last=False)
        return t

    def _build(self, level: int, ti: int, tj: int) -> U8:
        # Every level is rasterised directly (not averaged from the finer one): a coarse
        # tile for an oblique view then never needs all the fine tiles under it, and a
        # tile's pixels never depend on what happened to be cached.
        n, res = self.tile_px, self.pixel_size(level)
        xa = self.x0 + tj * n * res
        yb = self.y1 - ti * n * res
        xb, ya = xa + n * res, yb - n * res
        self.tiles_built += 1

        def to_px(xy: NDArray[np.float64]) -> list[tuple[float, float]]:
            # PIL puts integer coordinates on pixel centres; ours are on pixel edges.
            px = (xy[:, 0] - xa) / res - 0.5
            py = (yb - xy[:, 1]) / res - 0.5
            return list(zip(px.tolist(), py.tolist(), strict=True))

        ids_img = Image.new("I", (n, n), 0)
        draw = ImageDraw.Draw(ids_img)
        for k in sorted(self._patch_tree.query(box(xa, ya, xb, yb)).tolist()):
            draw.polygon(to_px(self._patches[k].xy), fill=k + 1)
        ids = np.asarray(ids_img, dtype=np.int32)

        # World coordinates of pixel centres, so stripes run on across tile seams.
        xs = (xa + (np.arange(n, dtype=np.float32) + 0.5) * res).astype(np.float32)
        ys = (yb - (np.arange(n, dtype=np.float32) + 0.5) * res).astype(np.float32)
        factor = 1.0 + 0.1 * self._coarse(ti * n * res, tj * n * res, res)
        fine = _fine_bank()
        r0 = (ti * n + self._offset[0]) % _BANK
        c0 = (tj * n + self._offset[1]) % _BANK
        grain = fine[r0 : r0 + n, c0 : c0 + n]
        factor *= 1.0 + self._grain[ids] * grain
        # Rows finer than a few camera pixels (up to two texels each, see the camera's mip
        # bands) would alias into moire: fade them out below 8 texels a period.
        amp = (self._amp * np.clip((self._period / res - 4.0) / 4.0, 0.0, 1.0))[ids]
        if np.any(amp > 0):
            phase = (xs[None, :] * self._cos[ids] + ys[:, None] * self._sin[ids]) / self._period[
                ids
            ]
            factor *= 1.0 + amp * np.sin(np.float32(2 * math.pi) * phase)
        # Channel by channel on contiguous planes: much cheaper than (n, n, 3) broadcasting.
        rgb = np.empty((n, n, 3), np.uint8)
        for ch in range(3):
            plane = self._colour_planes[ch][ids]
            plane *= factor
            np.clip(plane, 0, 255, out=plane)
            rgb[:, :, ch] = plane
        tile = Image.fromarray(rgb, "RGB")

        prims = sorted(self._prim_tree.query(box(xa, ya, xb, yb)).tolist())
        if prims:
            pd = ImageDraw.Draw(tile, "RGBA")
            for k in prims:
                p = self._primitives[k]
                pd.polygon(to_px(p.xy), fill=p.rgba)
        # A faint grain over everything (objects too, so nothing is perfectly flat); on
        # every tile alike, or tiles with and without objects would show seams.
        grain_img = Image.fromarray(_grain_u8()[r0 : r0 + n, c0 : c0 + n], "RGB")
        return np.asarray(ImageChops.add(tile, grain_img, scale=1.0, offset=-128))

    def _coarse(self, down_m: float, right_m: float, res: float) -> F32:
        """Field-scale patchiness (tens of metres), bilinear from the coarse bank.

        ``down_m``/``right_m`` locate the tile's top-left corner from the raster origin.
        Interpolated on a grid 8 times coarser than the tile and repeated: the field is
        smooth at that scale, and this avoids a large matrix product (BLAS threads fight the
        other processes on a small machine).
        """
        n = self.tile_px
        m = n // 8
        wr, ir = _interp_weights(down_m, res * 8, m, self._coffset[0])
        wc, ic = _interp_weights(right_m, res * 8, m, self._coffset[1])
        bank = coarse_bank()
        p00 = bank[np.ix_(ir, ic)]
        p10 = bank[np.ix_((ir + 1) % _COARSE, ic)]
        p01 = bank[np.ix_(ir, (ic + 1) % _COARSE)]
        p11 = bank[np.ix_((ir + 1) % _COARSE, (ic + 1) % _COARSE)]
        fr, fc = wr[:, None], wc[None, :]
        small = (p00 * (1 - fr) + p10 * fr) * (1 - fc) + (p01 * (1 - fr) + p11 * fr) * fc
        return np.asarray(np.repeat(np.repeat(small, 8, axis=0), 8, axis=1), dtype=np.float32)

    # --- windows -------------------------------------------------------------------------

    def crop(
        self,
        level: int,
        r0: int,
        c0: int,
        r1: int,
        c1: int,
        needed: shapely.Geometry | None = None,
    ) -> U8:
        """Rows r0..r1-1 and columns c0..c1-1 of ``level`` as one contiguous array.

        ``needed`` (a polygon in (col, row) pixel coordinates of the level) limits which
        tiles are built: the rest of the window is left black, for callers that will not
        look there (a rotated frame's footprint covers about half of its bounding box).
        """
        n = self.tile_px
        out = np.zeros((r1 - r0, c1 - c0, 3), np.uint8)
        if needed is not None:
            shapely.prepare(needed)
        for ti in range(r0 // n, (r1 - 1) // n + 1):
            for tj in range(c0 // n, (c1 - 1) // n + 1):
                if needed is not None and not needed.intersects(
                    box(tj * n, ti * n, (tj + 1) * n, (ti + 1) * n)
                ):
                    continue
                t = self.tile(level, ti, tj)
                ra, rb = max(r0, ti * n), min(r1, (ti + 1) * n)
                ca, cb = max(c0, tj * n), min(c1, (tj + 1) * n)
                out[ra - r0 : rb - r0, ca - c0 : cb - c0] = t[
                    ra - ti * n : rb - ti * n, ca - tj * n : cb - tj * n
                ]
        return out

    def to_pixel(self, level: int, x: float, y: float) -> tuple[float, float]:
        """Local (x, y) metres to continuous (row, col) of ``level`` (edges at integers)."""
        s = self.pixel_size(level)
        return (self.y1 - y) / s, (x - self.x0) / s
