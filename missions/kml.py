"""KML site import (fastkml): Placemarks become site features.

A Placemark's role comes from its ExtendedData ``role`` (keep_in, exclusion, launch, rally,
poi), with ``min_alt_m``, ``max_alt_m`` and ``radius_m`` read from ExtendedData too. Without
roles (a plain area drawn in Google Earth or 奥维地图), the largest polygon is the keep-in area,
other polygons are exclusions, a point named like "launch"/"起降" is the launch point and
other points are points of interest. The result is validated like a GeoJSON site.
"""

from __future__ import annotations

import re
from typing import Any

from missions.errors import SiteError
from missions.site import ROLES, Site, site_from_geojson

LAUNCH_NAMES = re.compile(r"launch|home|takeoff|起降|起飞|机场", re.IGNORECASE)


def _flat(coords: Any) -> Any:
    """Drop altitude: GeoJSON positions as [lon, lat]."""
    if isinstance(coords, tuple | list) and coords and isinstance(coords[0], int | float):
        return [float(coords[0]), float(coords[1])]
    return [_flat(c) for c in coords]


def _placemarks(node: Any) -> list[Any]:
    out = []
    for f in getattr(node, "features", None) or []:
        if getattr(f, "geometry", None) is not None or type(f).__name__ == "Placemark":
            out.append(f)
        out.extend(_placemarks(f))
    return out


def _number(text: str, where: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SiteError(f"{where}: ExtendedData {key}={text!r} must be a number") from None


def site_from_kml(data: bytes, default_name: str = "site") -> Site:
    """Build and validate a Site from KML bytes."""
    try:
        from fastkml import KML

        doc = KML.from_string(data)  # type: ignore[arg-type]  # lxml takes bytes (encoding decl)
    except Exception as exc:  # fastkml/lxml raise many types for malformed XML
        raise SiteError(f"kml: cannot read the file ({type(exc).__name__}: {exc})") from None
    marks = _placemarks(doc)
    name = default_name
    for f in getattr(doc, "features", None) or []:
        if getattr(f, "name", None):
            name = str(f.name)
            break
    features: list[dict[str, Any]] = []
    for i, pm in enumerate(marks):
        geom = getattr(pm, "geometry", None)
        if geom is None:
            continue
        gi = geom.__geo_interface__
        if gi["type"] not in ("Point", "Polygon", "MultiPolygon"):
            continue  # paths and other shapes are not site elements
        props: dict[str, Any] = {}
        ed = getattr(pm, "extended_data", None)
        where = f"kml placemark {i} ({pm.name or 'unnamed'})"
        for el in getattr(ed, "elements", None) or []:
            key, value = getattr(el, "name", None), getattr(el, "value", None)
            if key is None or value is None:
                continue
            if key in ("min_alt_m", "max_alt_m", "radius_m"):
                props[key] = _number(str(value), where, key)
            elif key == "role":
                if value not in ROLES:
                    raise SiteError(f"{where}: ExtendedData role={value!r} must be one of {ROLES}")
                props["role"] = value
        if pm.name:
            props["name"] = str(pm.name)
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": gi["type"], "coordinates": _flat(gi["coordinates"])},
            }
        )
    if not features:
        raise SiteError(
            "kml: no Placemark with a Polygon or a Point; draw the keep-in area as a polygon"
        )
    _guess_roles([f for f in features if "role" not in f["properties"]], features)
    for f in features:
        if f["properties"]["role"] == "poi" and not f["properties"].get("name"):
            f["properties"]["name"] = "poi"
    return site_from_geojson(
        {"type": "FeatureCollection", "properties": {"name": name}, "features": features},
        default_name=default_name,
    )


def _guess_roles(todo: list[dict[str, Any]], every: list[dict[str, Any]]) -> None:
    """Give a role to the features in todo, knowing which roles every feature already has."""
    from shapely.geometry import shape

    roles = {f["properties"].get("role") for f in every}
    polys = [f for f in todo if f["geometry"]["type"] != "Point"]
    biggest = max(polys, key=lambda f: shape(f["geometry"]).area) if polys else None
    for f in polys:
        keep = f is biggest and "keep_in" not in roles
        f["properties"]["role"] = "keep_in" if keep else "exclusion"
    launch_done = "launch" in roles
    for f in todo:
        if f["geometry"]["type"] != "Point":
            continue
        label = str(f["properties"].get("name", ""))
        if not launch_done and LAUNCH_NAMES.search(label):
            f["properties"]["role"] = "launch"
            launch_done = True
        else:
            f["properties"]["role"] = "poi"
