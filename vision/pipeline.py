"""The on-vehicle vision loop: frame -> detections -> ground fixes -> suspects -> evidence.

:class:`FramePipeline` runs the detector on each captured frame, georeferences every box,
feeds the merger, and keeps just the frames that are currently some suspect's best view, so
that evidence (frame JPEG with EXIF GPS, crop) can be built when the sortie ends, with
bounded memory however long the flight.
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
from vision.georef import GeorefError, GroundFix, PoseErrors, box_footprint
from vision.merge import Merger, Suspect

__all__ = ["FramePipeline", "FrameResult"]


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
    caller can stream progress; nothing here writes logs or the audit trail.
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
        self.merger = merger or Merger()
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
        touched = self.merger.add(frame_id, pose, located)
        self.frames_processed += 1
        if any(s.best_frame == frame_id for s in touched):
            self._images[frame_id] = np.asarray(image)
        self._forget_unused()
        if self.on_suspect is not None:
            for s in touched:
                self.on_suspect(s)
        inference_s = float(getattr(self.detector, "last_inference_s", 0.0))
        return FrameResult(frame_id, located, unlocated, inference_s)

    def _forget_unused(self) -> None:
        keep = {s.best_frame for s in self.merger.suspects()}
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
