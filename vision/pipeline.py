"""The on-vehicle vision loop: frame -> detections -> ground fixes -> suspects -> evidence.

:class:`FramePipeline` runs the detector on each captured frame, georeferences every box,
feeds the merger, and keeps just the frames that are currently some suspect's best view, so
that evidence (frame JPEG with EXIF GPS, crop) can be built when the sortie ends, with
bounded memory however long the flight.

By default a suspect needs two frames that detected it whenever two or more frames had its
place in view (a survey's 70 % forward and 60 % side overlap shows every spot in several
frames): single-frame false alarms (a glint, a car at one angle) do not become evidence,
while an object at the very edge of a sortie, seen once, still does.

Two more rules (:func:`survey_merger`) remove look-alikes the detector fires on from several
angles: a suspect must have been detected in a minimum share of the frames that had its
place in view (``MIN_HIT_FRACTION``), and of two suspects of different classes on the same
footprint only the better-supported one is reported. Both were tuned on survey worlds that
are neither the benchmark's nor the test split's (``docs/vision.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from missions.camera import CameraModel
from telemetry.contract import CameraPose, EvidenceMessage
from vision.detector import Box, Detector
from vision.evidence import build_evidence, encode_crop_jpeg, encode_frame_jpeg
from vision.georef import GeorefError, GroundFix, PoseErrors, box_footprint, pixel_to_ground
from vision.merge import Merger, Suspect

__all__ = ["MIN_HIT_FRACTION", "VIEW_INSET", "FramePipeline", "FrameResult", "survey_merger"]

#: Share of the image width/height on each side left out of a frame's "view" for counting
#: frames that had a suspect's place in sight: an object's centre near the edge is usually cut
#: off, and a detector cannot be faulted for missing it there.
VIEW_INSET = 0.1

#: Share of the frames that had a suspect's place in view that must have detected it. On 48
#: tuning survey worlds (seeds 66001-66048, neither the benchmark's nor the test split's) real
#: violations had a median hit fraction of 1.0 (98 % at 0.55 or more); the look-alikes that
#: still fired from several frames (a pond or grey roof as construction, bare ground as
#: excavation, a car as a fire) mostly fired in a fifth to a half of their views. Open burning
#: asks for more: smoke is large and high-contrast (96 % of real fires at 0.7 or more), while
#: a red car taken for a fire comes and goes with the angle (6 of 7 below 0.7). ``"*"`` is
#: every other class.
MIN_HIT_FRACTION: dict[str, float] = {"*": 0.55, "open_burning": 0.7}


def survey_merger(min_frames: int = 2, distance_m: float = 8.0) -> Merger:
    """The merger :class:`FramePipeline` uses unless given one: the confirmation rules on.

    ``min_frames=1`` turns every rule off (each detection is a suspect), for a handful of
    photos where no frame overlaps another.
    """
    if min_frames <= 1:
        return Merger(distance_m=distance_m, min_frames=1)
    return Merger(
        distance_m=distance_m,
        min_frames=min_frames,
        min_hit_fraction=MIN_HIT_FRACTION,
        one_class_per_place=True,
    )


@dataclass(frozen=True)
class FrameResult:
    """What one frame gave: its boxes with ground fixes, and boxes that had no ground fix."""

    frame_id: str
    detections: list[tuple[Box, GroundFix]]
    unlocated: list[Box]
    inference_s: float


class FramePipeline:
    """Detector + georeferencing + merging for one sortie.

    ``on_suspect`` (optional) is called with each suspect a frame created or updated, so a
    caller can stream progress; nothing here writes logs or the audit trail. The default
    merger is :func:`survey_merger` (see the module docstring); pass
    ``Merger(min_frames=1)`` to report every single detection.
    """

    def __init__(
        self,
        detector: Detector,
        camera_model: CameraModel,
        merger: Merger | None = None,
        *,
        ground_alt_amsl_m: float | None = None,
        stabilized: bool = True,
        errors: PoseErrors | None = None,
        frame: Any | None = None,
        on_suspect: Callable[[Suspect], None] | None = None,
    ) -> None:
        self.detector = detector
        self.camera_model = camera_model
        self.merger = merger or survey_merger()
        self.ground_alt_amsl_m = ground_alt_amsl_m
        self.stabilized = stabilized
        self.errors = errors
        self.frame = frame
        self.on_suspect = on_suspect
        self._images: dict[str, np.ndarray] = {}
        self.frames_processed = 0

    def process(self, frame_id: str, image: np.ndarray, pose: CameraPose) -> FrameResult:
        """Detect, georeference and merge one frame."""
        boxes = self.detector.detect(image)
        h, w = image.shape[:2]
        located: list[tuple[Box, GroundFix]] = []
        unlocated: list[Box] = []
        for box in boxes:
            try:
                fix = box_footprint(
                    box,
                    pose,
                    self.camera_model,
                    self.ground_alt_amsl_m,
                    image_size=(w, h),
                    stabilized=self.stabilized,
                    errors=self.errors,
                    frame=self.frame,
                )
            except GeorefError:
                unlocated.append(box)  # above the horizon: nothing to pin on the ground
                continue
            located.append((box, fix))
        touched = self.merger.add(frame_id, pose, located, view=self._view(pose, w, h))
        self.frames_processed += 1
        if any(s.best_frame == frame_id for s in touched):
            self._images[frame_id] = np.asarray(image)
        self._forget_unused()
        if self.on_suspect is not None:
            for s in touched:
                self.on_suspect(s)
        inference_s = float(getattr(self.detector, "last_inference_s", 0.0))
        return FrameResult(frame_id, located, unlocated, inference_s)

    def _view(self, pose: CameraPose, w: int, h: int) -> list[tuple[float, float]] | None:
        """The ground ring of the frame's inner part (None when it reaches the horizon)."""
        m = VIEW_INSET
        us = [w * m, w * (1 - m), w * (1 - m), w * m, w * m]
        vs = [h * m, h * m, h * (1 - m), h * (1 - m), h * m]
        try:
            lon, lat = pixel_to_ground(
                np.array(us),
                np.array(vs),
                pose,
                self.camera_model,
                self.ground_alt_amsl_m,
                image_size=(w, h),
                stabilized=self.stabilized,
                frame=self.frame,
            )
        except GeorefError:
            return None
        return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]

    def _forget_unused(self) -> None:
        # Unconfirmed clusters too: a second detection may confirm one whose best frame is
        # an earlier one.
        keep = {s.best_frame for s in self.merger.clusters()}
        for fid in [f for f in self._images if f not in keep]:
            del self._images[fid]

    def suspects(self) -> list[Suspect]:
        return self.merger.suspects()

    def best_image(self, suspect: Suspect) -> np.ndarray:
        """The frame that shows ``suspect`` best."""
        return self._images[suspect.best_frame]

    def evidence(
        self,
        *,
        site_id: str,
        vehicle_id: str,
        mission_id: str,
        sortie_id: str,
        first_sequence: int,
    ) -> list[tuple[EvidenceMessage, dict[str, bytes]]]:
        """One unsigned evidence message (with media) per suspect, sequence numbers in order."""
        out = []
        for i, suspect in enumerate(self.suspects()):
            image = self.best_image(suspect)
            best = suspect.best
            msg, media = build_evidence(
                suspect,
                encode_frame_jpeg(image, best.pose),
                encode_crop_jpeg(image, best.box),
                mission_id=mission_id,
                sortie_id=sortie_id,
                vehicle_id=vehicle_id,
                sequence=first_sequence + i,
                site_id=site_id,
            )
            out.append((msg, media))
        return out
