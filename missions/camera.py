"""Pinhole camera model: ground sample distance, footprint and fields of view at an altitude."""

from __future__ import annotations

import math
from dataclasses import dataclass

from missions.errors import PlanError


@dataclass(frozen=True)
class CameraModel:
    """A nadir camera; image width lies across the flight direction (landscape mount)."""

    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int

    def __post_init__(self) -> None:
        for name in (
            "sensor_width_mm",
            "sensor_height_mm",
            "focal_length_mm",
            "image_width_px",
            "image_height_px",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise PlanError(f"camera {name}={value!r} must be a positive number")

    @classmethod
    def default(cls) -> CameraModel:
        """A 1/2.3-inch sensor (6.17 x 4.55 mm) behind a 4.5 mm lens, 1280 x 960 frames."""
        return cls(6.17, 4.55, 4.5, 1280, 960)

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * self.focal_length_mm)))

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.sensor_height_mm / (2.0 * self.focal_length_mm)))

    def _check_alt(self, alt_m: float) -> None:
        if not math.isfinite(alt_m) or alt_m <= 0:
            raise PlanError(f"altitude_agl_m={alt_m!r} must be a positive number of metres")

    def gsd_m(self, alt_m: float) -> float:
        """Ground size of one pixel (metres) at alt_m above flat ground (worse axis)."""
        self._check_alt(alt_m)
        gx = self.sensor_width_mm * alt_m / (self.focal_length_mm * self.image_width_px)
        gy = self.sensor_height_mm * alt_m / (self.focal_length_mm * self.image_height_px)
        return max(gx, gy)

    def footprint_m(self, alt_m: float) -> tuple[float, float]:
        """(across-track width, along-track height) of one image on the ground, metres."""
        self._check_alt(alt_m)
        return (
            self.sensor_width_mm * alt_m / self.focal_length_mm,
            self.sensor_height_mm * alt_m / self.focal_length_mm,
        )
