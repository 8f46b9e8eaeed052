"""Robustness: no command, parameter or message a ground station can send — NaN, infinities,
absurd numbers, garbage bytes — crashes the simulated vehicle or poisons its state."""

from __future__ import annotations

import math
import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import ParamStore, SimulatorServer, Vehicle
from simulators.vehicle.commands import Command, CommandHandler
from simulators.vehicle.gcs import GroundStation
from simulators.vehicle.streams import BUILDERS, StreamScheduler

HOME = (41.7, 123.4, 42.0)
COMMANDS = [
    M.MAV_CMD_COMPONENT_ARM_DISARM, M.MAV_CMD_DO_SET_MODE, M.MAV_CMD_NAV_TAKEOFF,
    M.MAV_CMD_MISSION_START, M.MAV_CMD_NAV_RETURN_TO_LAUNCH, M.MAV_CMD_NAV_LAND,
    M.MAV_CMD_DO_REPOSITION, M.MAV_CMD_DO_PAUSE_CONTINUE, M.MAV_CMD_DO_CHANGE_SPEED,
    M.MAV_CMD_DO_FENCE_ENABLE, M.MAV_CMD_DO_SET_HOME, M.MAV_CMD_DO_DIGICAM_CONTROL,
    M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, M.MAV_CMD_SET_MESSAGE_INTERVAL,
    M.MAV_CMD_REQUEST_MESSAGE, M.MAV_CMD_CONDITION_YAW, 12345,
]  # fmt: skip
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, 1.0, 4.0, 21196.0, -1.0, 41.7, 123.4, 30.0]),
)


class FakeMessage:
    """The fields of a COMMAND_LONG, as float32 on the wire."""

    def __init__(self, command: int, params: list[float]) -> None:
        self.command = command
        (self.param1, self.param2, self.param3, self.param4,
         self.param5, self.param6, self.param7) = params  # fmt: skip

    def get_type(self) -> str:
        return "COMMAND_LONG"


@settings(max_examples=25, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.lists(ANY_FLOAT, min_size=7, max_size=7)),
        min_size=1,
        max_size=12,
    ),
    kind=st.sampled_from(["copter", "rover"]),
)
def test_any_command_sequence_keeps_the_vehicle_sane(
    script: list[tuple[int, list[float]]], kind: str
) -> None:
    v = Vehicle(kind, HOME, ParamStore(kind), seed=0)
    handler = CommandHandler(v, StreamScheduler(), lambda _mid: True)
    for _ in range(160):
        v.step(0.02)
    for command, params in script:
        result = handler.handle(Command.from_message(FakeMessage(command, params)))
        assert result in (0, 1, 2, 3, 4)
        for _ in range(50):
            v.step(0.02)
        b = v.body
        assert all(math.isfinite(x) for x in (b.n, b.e, b.u, b.vn, b.ve, b.vu, b.yaw_deg))
        for build in BUILDERS.values():
            build(v).pack(M.MAVLink(None, 1, 1))  # every telemetry message still encodes


def test_garbage_and_absurd_messages_do_not_stop_the_server() -> None:
    with SimulatorServer(home=HOME, speedup=20) as sim:
        host, port = sim.url.split(":")[1:]
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(bytes(range(256)) * 20 + b"\xfd\x09\x00\x00" + b"\xff" * 100)
        gcs = GroundStation(sim.url)
        mav = gcs.mav
        mav.param_set_send(1, 1, b"WPNAV_SPEED", float("nan"), M.MAV_PARAM_TYPE_REAL32)
        mav.param_set_send(1, 1, b"WPNAV_SPEED", float("inf"), M.MAV_PARAM_TYPE_REAL32)
        mav.mission_count_send(1, 1, 2, 0)
        gcs.recv("MISSION_REQUEST_INT")
        mav.mission_item_int_send(1, 1, 0, 6, 16, 0, 1, 0, 0, 0, 0, 0, 0, 10.0, 0)
        assert gcs.recv("MISSION_REQUEST_INT").seq == 1
        nan = float("nan")
        mav.mission_item_int_send(1, 1, 1, 6, 177, 0, 1, nan, nan, nan, nan, 0, 0, nan, 0)
        assert gcs.recv("MISSION_ACK").type == M.MAV_MISSION_INVALID_PARAM7
        mav.set_position_target_global_int_send(
            0, 1, 1, 6, 0b0000111111111000, 0, 0, float("nan"), 0, 0, 0, 0, 0, 0, 0, 0
        )
        mav.mission_request_int_send(1, 1, -1 & 0xFFFF, 0)
        mav.mission_count_send(1, 1, 65535, 7)
        assert gcs.param_get("WPNAV_SPEED") == 1000.0  # NaN and inf were ignored
        assert sim.running and sim.handler_errors == 0, sim.last_handler_error
        gcs.close()


MISSION_COMMANDS = [
    M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_TAKEOFF, M.MAV_CMD_NAV_LOITER_TIME,
    M.MAV_CMD_NAV_LOITER_TURNS, M.MAV_CMD_NAV_LOITER_UNLIM, M.MAV_CMD_NAV_LAND,
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH, M.MAV_CMD_NAV_DELAY, M.MAV_CMD_DO_JUMP,
    M.MAV_CMD_DO_CHANGE_SPEED, M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, M.MAV_CMD_DO_DIGICAM_CONTROL,
    M.MAV_CMD_DO_SET_HOME, M.MAV_CMD_DO_FENCE_ENABLE, 31000,
]  # fmt: skip


@settings(max_examples=8, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(MISSION_COMMANDS),
            st.lists(ANY_FLOAT, min_size=4, max_size=4),
            st.floats(-300, 300),
            st.floats(-300, 300),
            st.floats(-50, 150),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_any_valid_mission_flies_without_breaking(
    items: list[tuple[int, list[float], float, float, float]],
) -> None:
    from simulators.vehicle.gcs import offset
    from simulators.vehicle.items import StoredItem, validate_item

    v = Vehicle("copter", HOME, ParamStore("copter"), seed=0)
    stored = [v.home_item()]
    for seq, (command, params, n, e, alt) in enumerate(items, start=1):
        lat, lon = offset(*HOME[:2], n, e)
        item = StoredItem(seq, 6, command, 0, 1, *params, round(lat * 1e7), round(lon * 1e7), alt)
        if validate_item(item) == M.MAV_MISSION_ACCEPTED:
            stored.append(item)
    v.set_list(M.MAV_MISSION_TYPE_MISSION, [s.with_seq(i) for i, s in enumerate(stored)])
    for _ in range(160):
        v.step(0.02)
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(10)
    for _ in range(300):
        v.step(0.02)
    v.set_mode("AUTO")
    for _ in range(round(60 / 0.02)):
        v.step(0.02)
        if not v.armed:
            break
    b = v.body
    assert all(math.isfinite(x) for x in (b.n, b.e, b.u, b.vn, b.ve, b.vu, v.time_s))
    for build in BUILDERS.values():
        build(v).pack(M.MAVLink(None, 1, 1))
