"""Synthetic world: seeded ground layout with planted violations, distractors and ground truth.

``generate_world(site, seed)`` gives a :class:`World` whose ``violations`` and
``distractors`` are :class:`PlantedObject` ground truth (``world.save(path)`` writes GeoJSON)
and whose ``raster`` is the ground texture the synthetic camera films.
"""

from simulators.world.errors import WorldError
from simulators.world.kinds import DISTRACTOR_KINDS, KIND_SPECS, VIOLATION_KINDS, KindSpec
from simulators.world.model import World, generate_world
from simulators.world.objects import PlantedObject

__all__ = [
    "DISTRACTOR_KINDS",
    "KIND_SPECS",
    "VIOLATION_KINDS",
    "KindSpec",
    "PlantedObject",
    "World",
    "WorldError",
    "generate_world",
]
