"""KML site import: roles from ExtendedData, guessed roles for plain drawings, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from missions.errors import SiteError
from missions.kml import site_from_kml
from missions.site import load_site

from .conftest import EXAMPLE_SITES

RING = "123.48,41.70,0 123.49,41.70,0 123.49,41.71,0 123.48,41.71,0 123.48,41.70,0"
HOLE = "123.485,41.705 123.486,41.705 123.486,41.706 123.485,41.706 123.485,41.705"


def _kml(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Field</name>'
        f"{body}</Document></kml>"
    ).encode()


def test_example_kml_site() -> None:
    path = next(p for p in EXAMPLE_SITES if p.suffix == ".kml")
    site = load_site(path)
    assert site.id == path.stem  # the Chinese name has no ASCII for an id
    assert site.min_alt_m == 20 and site.max_alt_m == 100
    assert [i.name for i in site.exclusion_info] == ["养殖场（禁飞）"]
    assert site.pois and site.pois[0].name == "秸秆堆放点"


def test_roles_from_extended_data_and_holes() -> None:
    site = site_from_kml(
        _kml(
            '<Folder><Placemark><name>area</name><ExtendedData><Data name="role"><value>keep_in'
            '</value></Data><Data name="max_alt_m"><value>90</value></Data></ExtendedData>'
            f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{RING}</coordinates>"
            "</LinearRing></outerBoundaryIs><innerBoundaryIs><LinearRing><coordinates>"
            f"{HOLE}</coordinates></LinearRing></innerBoundaryIs></Polygon></Placemark></Folder>"
            "<Placemark><name>Launch</name><Point><coordinates>123.481,41.701,0</coordinates>"
            "</Point></Placemark>"
        )
    )
    assert site.name == "Field" and site.max_alt_m == 90
    assert site.launch == (123.481, 41.701)
    assert len(site.exclusions) == 1 and site.exclusion_info[0].kind == "hole"


def test_plain_drawing_guesses_roles() -> None:
    small = "123.484,41.704,0 123.485,41.704,0 123.485,41.705,0 123.484,41.704,0"
    site = site_from_kml(
        _kml(
            f"<Placemark><name>small</name><Polygon><outerBoundaryIs><LinearRing><coordinates>"
            f"{small}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
            f"<Placemark><name>big</name><Polygon><outerBoundaryIs><LinearRing><coordinates>"
            f"{RING}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
            "<Placemark><name>起降点</name><Point><coordinates>123.481,41.701</coordinates>"
            "</Point></Placemark><Placemark><name>dump</name><Point><coordinates>123.487,41.707"
            "</coordinates></Point></Placemark>"
        )
    )
    assert site.local_keep_in.area > 700_000
    assert [i.name for i in site.exclusion_info] == ["small"]
    assert site.launch == (123.481, 41.701) and site.pois[0].name == "dump"


def test_bad_kml(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="kml: cannot read"):
        site_from_kml(b"<kml><Document>")
    with pytest.raises(SiteError, match="role='bogus'"):
        site_from_kml(
            _kml(
                '<Placemark><ExtendedData><Data name="role"><value>bogus</value></Data>'
                "</ExtendedData><Point><coordinates>123.481,41.701</coordinates></Point>"
                "</Placemark>"
            )
        )
    path = tmp_path / "x.kml"
    path.write_bytes(_kml(""))
    with pytest.raises(SiteError, match="no Placemark"):
        load_site(path)
