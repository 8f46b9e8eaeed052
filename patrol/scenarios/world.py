"""The synthetic world of a scenario: the seeded world of the site plus explicitly planted objects.

``simulators.world.generate_world`` places violations and distractors at seeded random spots;
a scenario may also put named objects at exact places (the dump by the school gate). Those are
drawn on top of the seeded ground with the same recipes, so they look exactly like generated
ones, and join the ground truth. Same site, same spec, same seed: the same world.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from patrol.scenarios.model import WorldSpec


def build_world(site: Any, spec: WorldSpec) -> Any:
    """The `simulators.world.World` for `site` as `spec` describes it (deterministic)."""
    from simulators.world import KIND_SPECS, PlantedObject, generate_world
    from simulators.world.objects import draw_object
    from simulators.world.raster import GroundRaster

    base = generate_world(
        site,
        seed=spec.seed,
        classes=list(spec.classes) if spec.classes else None,
        violations=spec.violations,
        distractors=spec.distractors,
    )
    if not spec.planted:
        return base
    # Headings not given are seeded too, so an unchanged file always draws the same world.
    rng = np.random.default_rng([int(spec.seed), 9])
    objects = []
    for p in spec.planted:
        kind = KIND_SPECS[p.class_name]
        length = p.length_m or (kind.length_m[0] + kind.length_m[1]) / 2
        width = p.width_m or (kind.width_m[0] + kind.width_m[1]) / 2
        length, width = max(length, width), min(length, width)
        drawn_heading = float(rng.uniform(0.0, 180.0))
        heading = float(p.heading_deg) if p.heading_deg is not None else drawn_heading
        x, y = base.frame.to_local(p.lon, p.lat)
        objects.append(
            PlantedObject(
                id=p.id,
                class_name=p.class_name,
                lon=p.lon,
                lat=p.lat,
                heading_deg=heading,
                length_m=float(length),
                width_m=float(width),
                x_m=float(x),
                y_m=float(y),
                is_violation=kind.violation,
            )
        )
    primitives = list(base.primitives)
    owners = list(base.owners)
    for obj in objects:
        drawn = draw_object(obj, base.scene, int(spec.seed))
        primitives.extend(drawn)
        owners.extend([obj.id] * len(drawn))
    r = base.raster
    raster = GroundRaster(
        (r.x0, r.y1),
        base.layout.background,
        base.layout.patches,
        primitives,
        resolution_m=r.resolution_m,
        tile_px=r.tile_px,
        max_tiles=r.max_tiles,
        seed=int(spec.seed),
    )
    return dataclasses.replace(
        base,
        violations=[*base.violations, *(o for o in objects if o.is_violation)],
        distractors=[*base.distractors, *(o for o in objects if not o.is_violation)],
        raster=raster,
        primitives=primitives,
        owners=owners,
    )
