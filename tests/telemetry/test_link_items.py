"""Mission items through the wire encoding and back: whatever the planner makes survives a
MISSION_ITEM_INT round trip within the verification tolerances, and real changes do not."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as m

from missions.items import MissionItem, make_item
from telemetry.link.mission import compare_items, item_from_message, item_wire_fields

lat = st.floats(-89.9, 89.9, allow_nan=False)
lon = st.floats(-179.9, 179.9, allow_nan=False)
alt = st.floats(-400.0, 9000.0, allow_nan=False)
param = st.floats(-1e4, 1e4, allow_nan=False, width=32)
frames = st.sampled_from([0, 3, 5, 6, 10])
commands = st.sampled_from([16, 17, 19, 21, 82, 5100])


def _through_wire(item: MissionItem, use_int: bool) -> MissionItem:
    enc = m.MAVLink(None, srcSystem=255, srcComponent=190)
    fields = item_wire_fields(item, 1, 2, use_int)
    cls = m.MAVLink_mission_item_int_message if use_int else m.MAVLink_mission_item_message
    wire = cls(1, 1, *fields).pack(enc)
    (msg,) = m.MAVLink(None).parse_buffer(bytes(wire))
    return item_from_message(msg, 2)


@settings(max_examples=150, deadline=None)
@given(lat, lon, alt, param, param, commands, frames)
def test_round_trip_is_within_tolerance(
    la: float, lo: float, al: float, p1: float, p4: float, cmd: int, frame: int
) -> None:
    item = make_item(cmd, lo, la, al, params=(p1, 0.0, 0.0, p4), frame=frame, mission_type=2)
    item = MissionItem(**{**item.__dict__, "seq": 1})
    for use_int, tol in ((True, 2.5e-7), (False, 1.5e-5)):
        back = _through_wire(item, use_int)
        assert compare_items([item], [back], 2, ardupilot=False, position_tol_deg=tol) == []


@settings(max_examples=60, deadline=None)
@given(lat, lon, st.floats(3e-7, 1.0))
def test_a_real_move_is_caught(la: float, lo: float, delta: float) -> None:
    item = MissionItem(**{**make_item(16, lo, la, 30.0, mission_type=2).__dict__, "seq": 1})
    moved = MissionItem(**{**item.__dict__, "lat_deg": item.lat_deg + delta})
    back = _through_wire(moved, True)
    problems = compare_items([item], [back], 2, ardupilot=False)
    assert problems and "lat_deg" in problems[0]
    assert not math.isclose(back.lat_deg, item.lat_deg, abs_tol=2.5e-7)
