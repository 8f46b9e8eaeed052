"""Merging: the same object seen in many frames and passes becomes one suspected violation.

Detections are clustered by class and ground distance (single linkage: a detection joins the
nearest same-class cluster whose position is within ``distance_m``, and clusters that grow
into each other are joined). Each cluster keeps every frame that saw it and picks a best
frame: the highest confidence, preferring views near nadir, where the object is least
foreshortened and its pin most accurate.

A detection in one frame only is weak evidence when other frames had the same place in
view and saw nothing there: a glint on water, a car from one angle. With ``min_frames`` > 1
and the ground footprint of every frame given to :meth:`Merger.add` (``view``), a suspect is
reported once ``min_frames`` frames detected it, or when fewer than ``min_frames`` frames
ever had its place in view (the edge of a sortie, a single photo): a second look is
required whenever there was one.

Two further confirmation rules, both off by default and on in
:func:`vision.pipeline.survey_merger` (what :class:`~vision.pipeline.FramePipeline` uses):

* **hit fraction** (``min_hit_fraction``, one value or one per class): of the frames that
  had the suspect's place in view, the share that detected it. A real object is found in
  nearly every view of a survey; a look-alike (a red car taken for a fire, a pond's glint
  taken for a roof) fires in some views and not in others, so a persistent false alarm still
  shows up as a low hit fraction.
* **one class per place** (``one_class_per_place``): two suspects of different classes whose
  ground footprints overlap (IoU >= ``CROSS_CLASS_IOU``) are two readings of one object; the
  one with less evidence (summed confidence over its frames) is dropped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely

from vision.classes import VIOLATION_CLASSES
from vision.detector import Box
from vision.errors import VisionError
from vision.georef import GroundFix

__all__ = [
    "CROSS_CLASS_IOU",
    "Merger",
    "Observation",
    "Suspect",
    "footprint_iou",
    "local_distance_m",
]

_EARTH_R = 6_371_008.8

#: Ground-footprint IoU above which two suspects of different classes are taken to be one
#: object read two ways (the usual same-object IoU of detection matching).
CROSS_CLASS_IOU = 0.5


def _offset_m(lon0: float, lat0: float, lon: float, lat: float) -> tuple[float, float]:
    """(east, north) metres from (lon0, lat0): equirectangular, millimetre-true over 1 km."""
    k = math.radians(1.0) * _EARTH_R
    return (lon - lon0) * k * math.cos(math.radians((lat + lat0) / 2.0)), (lat - lat0) * k


def local_distance_m(lon0: float, lat0: float, lon: float, lat: float) -> float:
    """Ground distance in metres between two nearby WGS84 points."""
    return math.hypot(*_offset_m(lon0, lat0, lon, lat))


def _inside(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    """Whether (lon, lat) lies inside a footprint ring (even-odd rule, local metres)."""
    if len(ring) < 4:
        return False
    pts = [_offset_m(lon, lat, x, y) for x, y in ring]
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(pts):
        if (y1 > 0) != (y2 > 0) and x1 + (0 - y1) * (x2 - x1) / (y2 - y1) > 0:
            inside = not inside
    return inside


def _size_m(ring: list[tuple[float, float]]) -> float:
    """Longest side of a footprint quadrilateral, in metres."""
    sides = [
        local_distance_m(ring[i][0], ring[i][1], ring[i + 1][0], ring[i + 1][1])
        for i in range(len(ring) - 1)
    ]
    return max(sides) if sides else 0.0


def footprint_iou(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Intersection over union of two footprint rings on the ground (local metres)."""
    if len(a) < 4 or len(b) < 4:
        return 0.0
    lon0, lat0 = a[0]
    pa = shapely.Polygon([_offset_m(lon0, lat0, x, y) for x, y in a])
    pb = shapely.Polygon([_offset_m(lon0, lat0, x, y) for x, y in b])
    if not (pa.is_valid and pb.is_valid):
        pa, pb = pa.buffer(0), pb.buffer(0)
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


def _split(item: tuple[Any, ...]) -> tuple[Box, GroundFix]:
    if len(item) == 2:
        box, fix = item
        return box, fix if isinstance(fix, GroundFix) else GroundFix(*fix)
    if len(item) == 5:
        box, lon, lat, footprint, unc = item
        return box, GroundFix(float(lon), float(lat), list(footprint), float(unc))
    raise VisionError(
        f"boxes_with_ground: expected (box, fix) or (box, lon, lat, footprint, uncertainty_m) "
        f"items, got one of length {len(item)}"
    )


@dataclass(frozen=True)
class Observation:
    """One detection of a suspect in one frame."""

    frame_id: str
    pose: Any  # telemetry.contract.CameraPose
    box: Box
    fix: GroundFix
    off_nadir_deg: float

    @property
    def score(self) -> float:
        """Best-frame ranking: confidence, discounted by how oblique the view is."""
        return self.box.confidence * math.cos(math.radians(min(self.off_nadir_deg, 80.0))) ** 0.5


@dataclass
class Suspect:
    """A suspected violation: one object on the ground, with every frame that saw it."""

    class_name: str
    observations: list[Observation] = field(default_factory=list)
    # Frames that had the suspect's place well in view but did not detect it (counted when
    # the caller gives the merger each frame's view).
    misses: int = 0

    @property
    def lon(self) -> float:
        return self._position()[0]

    @property
    def lat(self) -> float:
        return self._position()[1]

    def _position(self) -> tuple[float, float]:
        # Confidence-weighted mean: pins from weak, oblique detections count for less.
        w = [o.score for o in self.observations]
        total = sum(w) or 1.0
        lon = sum(o.fix.lon * wi for o, wi in zip(self.observations, w, strict=True)) / total
        lat = sum(o.fix.lat * wi for o, wi in zip(self.observations, w, strict=True)) / total
        return lon, lat

    @property
    def best(self) -> Observation:
        """The frame that shows it best (highest confidence, nearest nadir)."""
        return max(self.observations, key=lambda o: o.score)

    @property
    def best_frame(self) -> str:
        return self.best.frame_id

    @property
    def frames(self) -> list[str]:
        """Every frame that saw it, in the order they were added, without repeats."""
        return list(dict.fromkeys(o.frame_id for o in self.observations))

    @property
    def confidence(self) -> float:
        """The highest confidence any frame gave it."""
        return max(o.box.confidence for o in self.observations)

    @property
    def hits(self) -> int:
        """Frames that detected it."""
        return len(self.frames)

    @property
    def hit_fraction(self) -> float:
        """Of the frames known to have had its place in view, the share that detected it."""
        return self.hits / (self.hits + self.misses)

    @property
    def evidence(self) -> float:
        """Summed confidence over the frames that detected it (best box per frame)."""
        best: dict[str, float] = {}
        for o in self.observations:
            best[o.frame_id] = max(best.get(o.frame_id, 0.0), o.box.confidence)
        return sum(best.values())

    @property
    def uncertainty_m(self) -> float:
        """Uncertainty of the merged pin: the best single fix's, shrunk by repeat views."""
        best = min(o.fix.uncertainty_m for o in self.observations)
        return best / math.sqrt(min(len(self.observations), 4))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``patrol vision detect --json`` and reports)."""
        return {
            "class_name": self.class_name,
            "lon": self.lon,
            "lat": self.lat,
            "confidence": round(self.confidence, 4),
            "best_frame": self.best_frame,
            "frames": self.frames,
            "misses": self.misses,
            "uncertainty_m": round(self.uncertainty_m, 2),
        }


class Merger:
    """Collects georeferenced detections frame by frame and yields suspects.

    ``distance_m`` is how far apart two detections of one class may lie and still be one
    object (a few times the pin uncertainty). Detections smaller on the ground than their
    class's ``min_size_m`` are dropped when ``apply_min_size`` is set. Suspects detected in
    fewer than ``min_frames`` frames are not reported, unless the frames' views were given
    and fewer than ``min_frames`` of them had the suspect's place in view (then nothing could
    confirm it, and one detection stands). With views given, a suspect must also have been
    detected in at least ``min_hit_fraction`` of the frames that had its place in view (one
    number, or a mapping from class name to number with ``"*"`` for the rest); with
    ``one_class_per_place``, of two suspects of different classes on the same footprint only
    the one with more evidence is reported (see the module docstring).
    """

    def __init__(
        self,
        distance_m: float = 8.0,
        min_frames: int = 1,
        apply_min_size: bool = True,
        *,
        min_hit_fraction: float | Mapping[str, float] = 0.0,
        one_class_per_place: bool = False,
    ) -> None:
        if not distance_m > 0:
            raise VisionError(f"distance_m: {distance_m} must be > 0 (metres on the ground)")
        if min_frames < 1:
            raise VisionError(f"min_frames: {min_frames} must be >= 1")
        fractions = (
            dict(min_hit_fraction)
            if isinstance(min_hit_fraction, Mapping)
            else {"*": float(min_hit_fraction)}
        )
        known = {c.name for c in VIOLATION_CLASSES} | {"*"}
        for name, value in fractions.items():
            if name not in known:
                raise VisionError(f"min_hit_fraction: unknown class {name!r}")
            if not 0.0 <= float(value) <= 1.0:
                raise VisionError(f"min_hit_fraction: {value} for {name!r} must be in [0, 1]")
        self.distance_m = float(distance_m)
        self.min_frames = int(min_frames)
        self.apply_min_size = apply_min_size
        self.min_hit_fraction = {k: float(v) for k, v in fractions.items()}
        self.one_class_per_place = one_class_per_place
        self._min_size = {c.name: c.min_size_m for c in VIOLATION_CLASSES}
        self._clusters: list[Suspect] = []
        self._views: list[tuple[str, list[tuple[float, float]]]] = []
        self.dropped_small = 0

    def add(
        self,
        frame_id: str,
        pose: Any,
        boxes_with_ground: Iterable[tuple[Any, ...]],
        view: list[tuple[float, float]] | None = None,
    ) -> list[Suspect]:
        """Add one frame's detections; returns the suspects they joined or started.

        Each item is ``(box, fix)`` with a :class:`GroundFix`, or the flat
        ``(box, lon, lat, footprint, uncertainty_m)``. ``view`` is the ground ring the frame
        shows well enough to detect in (e.g. the image inset by a margin), given for every
        frame, with or without detections, when ``min_frames`` > 1.
        """
        touched: list[Suspect] = []
        new: list[Suspect] = []
        for item in boxes_with_ground:
            box, fix = _split(item)
            if self.apply_min_size and _size_m(fix.footprint) < self._min_size.get(
                box.class_name, 0.0
            ):
                self.dropped_small += 1
                continue
            horiz = local_distance_m(pose.lon, pose.lat, fix.lon, fix.lat)
            height = max(float(pose.alt_agl_m), 1e-3)
            obs = Observation(
                frame_id=frame_id,
                pose=pose,
                box=box,
                fix=fix,
                off_nadir_deg=math.degrees(math.atan2(horiz, height)),
            )
            target = self._nearest(box.class_name, fix.lon, fix.lat)
            if target is None:
                target = Suspect(class_name=box.class_name)
                self._clusters.append(target)
                new.append(target)
            target.observations.append(obs)
            if self._absorb(target) and target not in new:
                new.append(target)  # grown by another cluster: its misses are recounted
            if target not in touched:
                touched.append(target)
        self._count_misses(frame_id, view, [s for s in new if s in self._clusters])
        return touched

    def _count_misses(
        self, frame_id: str, view: list[tuple[float, float]] | None, new: list[Suspect]
    ) -> None:
        """Count the frames that had a suspect's place in view and did not detect it."""
        # A new (or just merged) suspect: the earlier frames that showed its place without
        # detecting it.
        for s in new:
            seen = set(s.frames)
            lon, lat = s.lon, s.lat
            s.misses = sum(
                1 for fid, ring in self._views if fid not in seen and _inside(lon, lat, ring)
            )
        if view is None:
            return
        self._views.append((frame_id, list(view)))
        for s in self._clusters:
            if frame_id not in s.frames and _inside(s.lon, s.lat, view):
                s.misses += 1

    def _nearest(self, class_name: str, lon: float, lat: float) -> Suspect | None:
        best: Suspect | None = None
        best_d = math.inf
        for s in self._clusters:
            if s.class_name != class_name:
                continue
            d = local_distance_m(s.lon, s.lat, lon, lat)
            if d < best_d and (d <= self.distance_m or _inside(lon, lat, s.best.fix.footprint)):
                best, best_d = s, d
        return best

    def _same(self, a: Suspect, b: Suspect) -> bool:
        """Two clusters are one object: close, or one's pin lies on the other's footprint.

        The footprint test keeps a large object (a 40 m yard) whole when it is seen cut off
        at the frame edge, where the box centre, and so the pin, shifts by many metres.
        """
        if a.class_name != b.class_name:
            return False
        if local_distance_m(a.lon, a.lat, b.lon, b.lat) <= self.distance_m:
            return True
        return _inside(a.lon, a.lat, b.best.fix.footprint) or _inside(
            b.lon, b.lat, a.best.fix.footprint
        )

    def _absorb(self, target: Suspect) -> bool:
        """Join clusters the grown ``target`` now reaches (one object seen from two passes)."""
        changed, merged = True, False
        while changed:
            changed = False
            for other in self._clusters:
                if other is not target and self._same(target, other):
                    target.observations.extend(other.observations)
                    self._clusters.remove(other)
                    changed = merged = True
                    break
        return merged

    def suspects(self) -> list[Suspect]:
        """The suspected violations so far, most confident first."""
        out = [s for s in self._clusters if self._confirmed(s)]
        if self.one_class_per_place:
            out = [s for s in out if not self._outweighed(s, out)]
        return sorted(out, key=lambda s: -s.confidence)

    def _fraction_for(self, class_name: str) -> float:
        return self.min_hit_fraction.get(class_name, self.min_hit_fraction.get("*", 0.0))

    def _confirmed(self, s: Suspect) -> bool:
        hits = s.hits
        if hits + s.misses < self.min_frames:
            # Fewer views than a confirmation needs: one detection is all there could be
            # (only known when views were given; without them min_frames is strict).
            return bool(self._views)
        return hits >= self.min_frames and s.hit_fraction >= self._fraction_for(s.class_name)

    @staticmethod
    def _outweighed(s: Suspect, others: list[Suspect]) -> bool:
        """Another class's suspect on the same footprint has more evidence than ``s``."""
        mine = s.evidence
        for o in others:
            if o is s or o.class_name == s.class_name:
                continue
            theirs = o.evidence
            if (theirs, o.class_name) <= (mine, s.class_name):
                continue  # ties go to one of the two, never to neither
            if footprint_iou(s.best.fix.footprint, o.best.fix.footprint) >= CROSS_CLASS_IOU:
                return True
        return False

    def clusters(self) -> list[Suspect]:
        """Every cluster, confirmed or not (a caller keeping best frames needs them all)."""
        return list(self._clusters)
