"""Mission file formats: golden files for .plan, .waypoints and GeoJSON; lossless round trips."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from missions.camera import CameraModel
from missions.errors import FormatError
from missions.formats import (
    MissionFile,
    dumps_mission,
    load_mission,
    loads_mission,
    plan_to_file,
    save_mission,
)
from missions.items import (
    MAV_CMD_DO_CHANGE_SPEED,
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_FENCE_RETURN_POINT,
    MAV_CMD_NAV_RALLY_POINT,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    make_item,
    renumber,
)
from missions.site import site_from_geojson
from missions.survey import plan_survey

GOLDEN = Path(__file__).parent / "golden"
KINDS = {"qgc": "mission.plan", "wpl": "mission.waypoints", "track": "mission.geojson"}


def golden_mission() -> MissionFile:
    """A small fixed mission (not from the planner, so planner changes never churn goldens)."""
    lon0, lat0 = 123.4841951, 41.7039148
    fkw: dict[str, Any] = {"frame": MAV_FRAME_GLOBAL, "mission_type": 1}
    items = renumber(
        [
            make_item(MAV_CMD_NAV_WAYPOINT, lon0, lat0, 0.0, frame=MAV_FRAME_GLOBAL),
            make_item(MAV_CMD_NAV_TAKEOFF, lon0, lat0, 50.0),
            make_item(MAV_CMD_DO_CHANGE_SPEED, params=(1.0, 10.0, -1.0, 0.0), frame=2),
            make_item(MAV_CMD_NAV_WAYPOINT, 123.4845, 41.7042, 50.0),
            make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(15.166666666666668, 0, 1, 0), frame=2),
            make_item(MAV_CMD_NAV_WAYPOINT, 123.4875, 41.7042, 50.0),
            make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(0.0, 0, 1, 0), frame=2),
            make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH),
        ]
    )
    square = [(123.4835, 41.7036), (123.4885, 41.7036), (123.4885, 41.7064), (123.4835, 41.7064)]
    school = [(123.4868, 41.7044), (123.4878, 41.7044), (123.4878, 41.7051)]
    fence = renumber(
        [make_item(MAV_CMD_NAV_FENCE_RETURN_POINT, lon0, lat0, **fkw)]
        + [
            make_item(MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, x, y, params=(4, 0, 0, 0), **fkw)
            for x, y in square
        ]
        + [
            make_item(MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, x, y, params=(3, 0, 0, 0), **fkw)
            for x, y in school
        ]
        + [
            make_item(
                MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 123.4848, 41.7055, params=(30, 0, 0, 0), **fkw
            )
        ]
    )
    rally = renumber(
        [make_item(MAV_CMD_NAV_RALLY_POINT, 123.4878049, 41.7039148, 50.0, mission_type=2)]
    )
    return MissionFile(items, fence, rally, "copter", {"cruise_speed_m_s": 10.0})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_golden_files(kind: str) -> None:
    mf = golden_mission()
    text = dumps_mission(mf, kind)
    path = GOLDEN / KINDS[kind]
    if os.environ.get("FIELDPATROL_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden file"
    back = load_mission(path)
    assert back.items == mf.items
    if kind != "wpl":  # the .waypoints format has no fence or rally section
        assert back.fence == mf.fence
        assert back.rally == mf.rally


def test_planned_mission_round_trips(u_site: dict[str, Any], tmp_path: Path) -> None:
    site = site_from_geojson(u_site)
    plan = plan_survey(site, CameraModel.default(), altitude_agl_m=60)
    mf = plan_to_file(plan)
    for name in ("a.plan", "a.waypoints", "a.geojson"):
        out = save_mission(tmp_path / name, mf, plan.path_lonlat)
        back = load_mission(out)
        assert back.items == plan.items, name
        # Writing what was read gives byte-identical files.
        assert dumps_mission(back, _kind(name), plan.path_lonlat) == out.read_text()
        if not name.endswith(".waypoints"):
            assert back.fence == plan.fence and back.rally == plan.rally


def _kind(name: str) -> str:
    return {"plan": "qgc", "waypoints": "wpl", "geojson": "track"}[name.rsplit(".", 1)[1]]


def test_plan_file_is_what_qgc_expects() -> None:
    doc = json.loads(dumps_mission(golden_mission(), "qgc"))
    assert doc["fileType"] == "Plan" and doc["mission"]["version"] == 2
    assert doc["mission"]["plannedHomePosition"] == [41.7039148, 123.4841951, 0.0]
    first = doc["mission"]["items"][0]
    assert first["type"] == "SimpleItem" and first["command"] == 22 and first["doJumpId"] == 1
    assert first["params"][4:] == [41.7039148, 123.4841951, 50.0]  # lat, lon order in QGC
    polys = doc["geoFence"]["polygons"]
    assert [p["inclusion"] for p in polys] == [True, False]
    assert doc["geoFence"]["circles"][0]["circle"]["radius"] == 30
    assert doc["rallyPoints"]["points"] == [[41.7039148, 123.4878049, 50.0]]


def test_waypoints_header_and_columns() -> None:
    text = dumps_mission(golden_mission(), "wpl")
    lines = text.splitlines()
    assert lines[0] == "QGC WPL 110"
    assert lines[1].split("\t")[:4] == ["0", "1", "0", "16"]
    assert all(len(ln.split("\t")) == 12 for ln in lines[1:])


def test_qgc_survey_complex_item_is_expanded() -> None:
    doc = json.loads(dumps_mission(golden_mission(), "qgc"))
    simple = doc["mission"]["items"]
    doc["mission"]["items"] = [
        simple[0],
        {
            "type": "ComplexItem",
            "complexItemType": "survey",
            "version": 5,
            "TransectStyleComplexItem": {"version": 2, "Items": simple[1:-1]},
            "polygon": [[41.7, 123.48], [41.71, 123.48], [41.71, 123.49]],
        },
        simple[-1],
    ]
    back = loads_mission(json.dumps(doc), "qgc")
    assert back.items == golden_mission().items
    assert any("complex item 'survey' expanded to 5 items" in n for n in back.notes)
    del doc["mission"]["items"][1]["TransectStyleComplexItem"]
    with pytest.raises(FormatError, match="complex item 'survey' has no generated items"):
        loads_mission(json.dumps(doc), "qgc")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("qgc", "{", "not valid JSON"),
        ("qgc", '{"fileType": "Other"}', "fileType must be 'Plan'"),
        ("wpl", "hello\n", "first line must be 'QGC WPL 110'"),
        ("wpl", "QGC WPL 110\n0\t1\t0\n", "expected 12 columns, found 3"),
        ("track", '{"type": "FeatureCollection", "properties": {}}', "fileType must be"),
    ],
)
def test_bad_files_are_named(kind: str, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        loads_mission(text, kind)


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"extension '\.kmz' is not a mission format"):
        save_mission(tmp_path / "x.kmz", golden_mission())
