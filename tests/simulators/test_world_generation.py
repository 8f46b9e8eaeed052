"""The synthetic world: seeded layout, planted objects where the rules say, GeoJSON ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from missions.site import Site, load_site
from simulators.dataset import synthetic_site
from simulators.world import (
    DISTRACTOR_KINDS,
    VIOLATION_KINDS,
    World,
    WorldError,
    generate_world,
)

SITE = Path(__file__).resolve().parents[2] / "examples" / "sites" / "shenyang-hunhe.geojson"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


@pytest.fixture(scope="module")
def world(site: Site) -> World:
    return generate_world(site, seed=7)


def test_same_seed_same_world_other_seed_other_world(site: Site, world: World) -> None:
    again = generate_world(site, seed=7)
    assert again.to_geojson() == world.to_geojson()
    # The texture too, pixel for pixel, including a tile split across an object.
    o = world.violations[0]
    r, c = world.raster.to_pixel(0, o.x_m, o.y_m)
    a = world.raster.crop(0, int(r) - 300, int(c) - 300, int(r) + 300, int(c) + 300)
    b = again.raster.crop(0, int(r) - 300, int(c) - 300, int(r) + 300, int(c) + 300)
    assert np.array_equal(a, b)
    other = generate_world(site, seed=8)
    assert [(p.x_m, p.y_m) for p in other.objects] != [(p.x_m, p.y_m) for p in world.objects]


def test_planted_counts_classes_and_places(site: Site, world: World) -> None:
    assert len(world.violations) == 8 and len(world.distractors) == 12
    # Classes are cycled: 8 violations over 5 classes shows every class.
    assert {o.class_name for o in world.violations} == set(VIOLATION_KINDS)
    assert {o.class_name for o in world.distractors} == set(DISTRACTOR_KINDS)
    keep_in = site.frame.geom_to_local(site.keep_in)
    exclusions = [site.frame.geom_to_local(e) for e in site.exclusions]
    footprints = [Polygon(o.footprint_local()) for o in world.objects]
    for o, fp in zip(world.objects, footprints, strict=True):
        assert keep_in.contains(fp), o
        assert not any(fp.intersects(e) for e in exclusions), o
        # lon/lat and local centre are the same point.
        x, y = site.frame.to_local(o.lon, o.lat)
        assert abs(x - o.x_m) < 0.01 and abs(y - o.y_m) < 0.01
        assert o.length_m >= o.width_m > 0
        assert type(o.class_name) is str  # plain values in the ground truth, no numpy types
    for i, a in enumerate(footprints):
        for b in footprints[i + 1 :]:
            assert not a.intersects(b)
    # Shadows fall away from the world's sun, as every object's shadow does.
    for o in world.distractors:
        if o.class_name == "shadow":
            assert o.heading_deg == pytest.approx((world.scene.sun_azimuth_deg + 180) % 360)
    # Scenery (trees, greenhouse tunnels) never covers a planted object.
    assert world.scenery
    for s in world.scenery:
        assert s.class_name in ("tree", "greenhouse")
        assert not any(Polygon(s.footprint_local()).intersects(fp) for fp in footprints)


def test_ground_truth_geojson(tmp_path: Path, site: Site, world: World) -> None:
    path = world.save(tmp_path / "truth" / "world.geojson")
    data = json.loads(path.read_text("utf-8"))
    assert data["type"] == "FeatureCollection"
    assert data["properties"]["seed"] == 7
    assert data["properties"]["site_id"] == site.id
    feats = data["features"]
    assert len(feats) == 20
    roles = [f["properties"]["role"] for f in feats]
    assert roles.count("violation") == 8 and roles.count("distractor") == 12
    for f, o in zip(feats, world.objects, strict=True):
        poly = shapely.geometry.shape(f["geometry"])
        local = site.frame.geom_to_local(poly)
        # The footprint polygon is the object's rectangle, centred on its lon/lat.
        assert abs(local.area - o.length_m * o.width_m) < 0.01 * o.length_m * o.width_m
        assert local.centroid.distance(Point(o.x_m, o.y_m)) < 0.05
        assert f["properties"]["class_name"] == o.class_name
        assert f["properties"]["heading_deg"] == pytest.approx(o.heading_deg, abs=1e-3)


def test_objects_change_the_texture_where_they_stand(world: World) -> None:
    # Removing an object changes the ground texture inside its footprint and nowhere far away.
    o = next(v for v in world.violations if v.class_name == "illegal_land_occupation")
    bare = world.without([o.id])
    assert o.id not in {p.id for p in bare.objects}
    r, c = world.raster.to_pixel(0, o.x_m, o.y_m)
    half = int(o.length_m / world.raster.resolution_m)
    win = (0, int(r) - half, int(c) - half, int(r) + half, int(c) + half)
    diff = np.abs(world.raster.crop(*win).astype(int) - bare.raster.crop(*win).astype(int)).sum(
        axis=2
    )
    yy, xx = np.mgrid[0 : 2 * half, 0 : 2 * half]
    xs = world.raster.x0 + (int(c) - half + xx + 0.5) * world.raster.resolution_m
    ys = world.raster.y1 - (int(r) - half + yy + 0.5) * world.raster.resolution_m
    inside = shapely.contains_xy(Polygon(o.footprint_local()).buffer(-0.3), xs, ys)
    assert (diff[inside] > 0).mean() > 0.95
    far = ~shapely.contains_xy(Polygon(o.footprint_local()).buffer(12.0), xs, ys)
    assert (diff[far] > 0).mean() < 0.01


def test_restricted_classes_and_bad_arguments(site: Site) -> None:
    w = generate_world(site, 3, classes=["open_burning"], violations=3, distractors=0)
    assert [o.class_name for o in w.violations] == ["open_burning"] * 3
    with pytest.raises(WorldError, match="classes"):
        generate_world(site, 3, classes=["graffiti"])
    with pytest.raises(WorldError, match="violations"):
        generate_world(synthetic_site(1, span_m=(40.0, 50.0)), 3, violations=60)


def test_kinds_table_matches_vision_classes() -> None:
    # simulators may not import vision; this test holds the two tables together.
    from vision.classes import DISTRACTOR_KINDS as VISION_DISTRACTORS
    from vision.classes import class_names

    assert list(VIOLATION_KINDS) == class_names()
    assert set(VISION_DISTRACTORS) <= set(DISTRACTOR_KINDS)
