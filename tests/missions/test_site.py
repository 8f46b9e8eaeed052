"""Site files: loading, export round trip, and the specific errors for bad sites."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon

from missions.errors import SiteError
from missions.site import load_site, site_from_geojson

from .conftest import EXAMPLE_SITES, rect, site_geojson


def test_example_sites_load() -> None:
    assert EXAMPLE_SITES, "examples/sites/ has no site files"
    for path in EXAMPLE_SITES:
        site = load_site(path)
        assert site.local_allowed.area > 1000
        assert site.max_alt_m > site.min_alt_m


def test_shenyang_site_contents() -> None:
    site = load_site(Path(EXAMPLE_SITES[0]).parent / "shenyang-hunhe.geojson")
    assert site.id == "shenyang-hunhe"
    assert site.min_alt_m == 20 and site.max_alt_m == 120
    assert len(site.exclusions) == 2  # a school polygon and a 30 m substation circle
    circle = site.local_exclusions[1]
    # Drawn around the circle: never smaller than the 30 m radius it stands for.
    assert circle.area >= 3.14159 * 30**2
    assert site.rally and site.pois[0].name == "河堤排口"


def test_geojson_round_trip(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    again = site_from_geojson(json.loads(json.dumps(site.to_geojson())))
    assert again.keep_in.equals(site.keep_in)
    assert len(again.exclusions) == len(site.exclusions)
    for a, b in zip(again.exclusions, site.exclusions, strict=True):
        assert a.symmetric_difference(b).area < 1e-12
    assert again.launch == site.launch and again.rally == site.rally
    assert again.id == site.id and again.name == site.name


def test_keep_in_holes_are_exclusions() -> None:
    keep = Polygon(
        rect(-200, -200, 200, 200).exterior.coords, [rect(50, 50, 120, 120).exterior.coords]
    )
    site = site_from_geojson(site_geojson(keep, launch=(-150, -150)))
    assert len(site.exclusions) == 1
    assert site.local_exclusions[0].area == pytest.approx(70 * 70, rel=1e-3)
    assert site.exclusion_info[0].kind == "hole"


def _mutate(doc: dict[str, Any], index: int, coords: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["features"][index]["geometry"]["coordinates"] = coords
    return doc


def test_swapped_lat_lon_is_named(u_site: dict[str, Any]) -> None:
    ring = u_site["features"][0]["geometry"]["coordinates"][0]
    swapped = _mutate(u_site, 0, [[[lat, lon] for lon, lat in ring]])
    # Beijing at lon 116: swapped, "latitude" 116 is out of range -> we say [lat, lon].
    with pytest.raises(SiteError, match=r"looks like \[lat, lon\]"):
        site_from_geojson(swapped)


def test_self_intersection_is_named() -> None:
    bow = Polygon([(-200, -200), (200, 200), (200, -200), (-200, 200)])
    with pytest.raises(SiteError, match="intersects itself"):
        site_from_geojson(site_geojson(bow, launch=(150, 0)))


def test_launch_outside() -> None:
    with pytest.raises(SiteError, match=r"launch: .* outside the keep-in"):
        site_from_geojson(site_geojson(rect(0, 0, 300, 300), launch=(-50, -50)))


def test_launch_inside_exclusion() -> None:
    with pytest.raises(SiteError, match="inside exclusion zone 'zone 0'"):
        site_from_geojson(site_geojson(rect(0, 0, 300, 300), [rect(0, 0, 50, 50)], launch=(10, 10)))


def test_exclusion_outside() -> None:
    with pytest.raises(SiteError, match="entirely outside the keep-in"):
        site_from_geojson(
            site_geojson(rect(0, 0, 300, 300), [rect(400, 400, 450, 450)], launch=(10, 10))
        )


def test_too_small_and_too_large() -> None:
    with pytest.raises(SiteError, match="below 100 m²"):
        site_from_geojson(site_geojson(rect(0, 0, 5, 5), launch=(1, 1)))
    with pytest.raises(SiteError, match="above 400 km²"):
        site_from_geojson(site_geojson(rect(0, 0, 30_000, 30_000), launch=(1, 1)))


def test_nothing_left_to_fly() -> None:
    with pytest.raises(SiteError, match="nothing is left"):
        site_from_geojson(
            site_geojson(
                rect(0, 0, 300, 300),
                [rect(-10, -10, 150, 310), rect(149, -10, 310, 310)],
                launch=(150, 150),
            )
        )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"type": "Feature"}, "must be 'FeatureCollection'"),
        ({"type": "FeatureCollection", "features": []}, "non-empty list"),
        (
            {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]},
            "properties.role=None",
        ),
    ],
)
def test_malformed_geojson(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SiteError, match=message):
        site_from_geojson(doc)


def test_missing_launch_and_bad_radius(u_site: dict[str, Any]) -> None:
    doc = copy.deepcopy(u_site)
    doc["features"] = [f for f in doc["features"] if f["properties"]["role"] != "launch"]
    with pytest.raises(SiteError, match="role='launch'"):
        site_from_geojson(doc)
    doc = copy.deepcopy(u_site)
    for f in doc["features"]:
        if "radius_m" in f["properties"]:
            f["properties"]["radius_m"] = 0
    with pytest.raises(SiteError, match="radius_m > 0, got 0"):
        site_from_geojson(doc)


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(SiteError, match="not valid JSON"):
        load_site(bad)
    with pytest.raises(SiteError, match="does not exist"):
        load_site(tmp_path / "nope.geojson")
