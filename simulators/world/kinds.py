"""The table of kinds the synthetic world can plant and render.

``simulators`` must not import ``vision``, so the names are kept here; a test checks that
they match ``vision.classes`` (violation class names and distractor kinds).
Sizes are the ground extent of the object's footprint rectangle (length x width, metres);
every drawn part of an object (except its shadow and smoke) stays inside that rectangle,
which is what the ground truth and the dataset labels use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindSpec:
    """How big a planted kind is and whether it is a violation."""

    name: str
    violation: bool
    length_m: tuple[float, float]
    width_m: tuple[float, float]
    aspect_max: float = 3.0  # length / width at most


VIOLATION_KINDS: tuple[str, ...] = (
    "illegal_construction",
    "waste_dumping",
    "open_burning",
    "illegal_excavation",
    "illegal_land_occupation",
)

DISTRACTOR_KINDS: tuple[str, ...] = (
    "legal_building",
    "parked_car",
    "haystack",
    "water",
    "shadow",
)

KIND_SPECS: dict[str, KindSpec] = {
    s.name: s
    for s in (
        KindSpec("illegal_construction", True, (7.0, 28.0), (5.0, 14.0)),
        KindSpec("waste_dumping", True, (4.0, 18.0), (3.0, 12.0), 2.5),
        KindSpec("open_burning", True, (5.0, 22.0), (4.0, 14.0), 2.5),
        KindSpec("illegal_excavation", True, (10.0, 32.0), (8.0, 22.0), 2.2),
        KindSpec("illegal_land_occupation", True, (16.0, 40.0), (12.0, 28.0), 2.2),
        KindSpec("legal_building", False, (8.0, 24.0), (6.0, 12.0)),
        KindSpec("parked_car", False, (4.1, 4.9), (1.7, 1.95)),
        KindSpec("haystack", False, (2.5, 6.0), (2.5, 6.0), 1.3),
        KindSpec("water", False, (8.0, 35.0), (6.0, 25.0), 2.5),
        KindSpec("shadow", False, (12.0, 40.0), (1.2, 4.0), 30.0),
    )
}
