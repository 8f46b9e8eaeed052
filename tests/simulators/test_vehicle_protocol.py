"""Protocol conformance of the built-in simulator, over a real TCP socket with pymavlink:
heartbeat and modes, the mission/fence/rally microservice both ways, parameters, commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import SimulatorError, SimulatorServer
from simulators.vehicle.gcs import GroundStation, Item, offset

HOME = (41.7, 123.4, 42.0)
FENCE = M.MAV_MISSION_TYPE_FENCE
RALLY = M.MAV_MISSION_TYPE_RALLY


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(kind="copter", home=HOME, speedup=20, seed=3) as server:
        yield server


@pytest.fixture
def gcs(sim: SimulatorServer) -> Iterator[GroundStation]:
    with GroundStation(sim.url) as station:
        yield station


def survey(n: int = 5) -> list[Item]:
    items = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)]
    items.append(Item(M.MAV_CMD_NAV_TAKEOFF, alt=20))
    items.append(Item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=10))
    for i in range(n):
        items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], 30.0 * i, 20.0), 20 + i))
    items.append(Item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return items


def square_fence(half_m: float = 300.0) -> list[Item]:
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    return [
        Item(
            M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            *offset(*HOME[:2], n, e),
            param1=4,
            frame=M.MAV_FRAME_GLOBAL,
            mission_type=FENCE,
        )
        for n, e in corners
    ]


def test_heartbeat_is_arducopter_with_custom_modes(gcs: GroundStation) -> None:
    hb = gcs.wait_heartbeat(lambda m: True)
    assert hb.type == M.MAV_TYPE_QUADROTOR
    assert hb.autopilot == M.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert hb.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert hb.custom_mode == 0  # STABILIZE after boot
    assert gcs.conn.mavlink20()  # the vehicle speaks MAVLink 2
    gcs.wait_ready(timeout=5)
    for name, number in [("GUIDED", 4), ("LOITER", 5), ("BRAKE", 17), ("STABILIZE", 0)]:
        assert gcs.set_mode(name) == M.MAV_RESULT_ACCEPTED
        assert gcs.wait_mode(name, timeout=5).custom_mode == number


def test_rover_heartbeat_and_modes() -> None:
    with SimulatorServer(kind="rover", home=HOME, speedup=20, sysid=7) as sim:
        gcs = GroundStation(sim.url, target_system=7)
        hb = gcs.wait_heartbeat(lambda m: True)
        assert hb.type == M.MAV_TYPE_GROUND_ROVER
        assert hb.get_srcSystem() == 7
        assert hb.custom_mode == 0  # MANUAL
        gcs.wait_ready(timeout=5)
        for name, number in [("HOLD", 4), ("GUIDED", 15), ("RTL", 11), ("MANUAL", 0)]:
            assert gcs.set_mode(name) == M.MAV_RESULT_ACCEPTED
            assert gcs.wait_mode(name, timeout=5).custom_mode == number
        gcs.close()


def test_mission_round_trip_int_and_legacy(gcs: GroundStation) -> None:
    items = survey()
    assert gcs.upload(items) == M.MAV_MISSION_ACCEPTED
    for legacy in (False, True):
        got = gcs.download(legacy=legacy)
        assert len(got) == len(items)
        # Item 0 is home, whatever was uploaded there (ArduPilot).
        assert got[0].command == M.MAV_CMD_NAV_WAYPOINT
        assert got[0].frame == M.MAV_FRAME_GLOBAL
        for sent, back in zip(items[1:], got[1:], strict=True):
            assert back.command == sent.command
            assert back.param1 == pytest.approx(sent.param1)
            assert back.z == pytest.approx(sent.alt)
            if sent.lat:
                # MISSION_ITEM carries float32 degrees: about 10 cm of resolution.
                lat = back.x if legacy else back.x / 1e7
                assert lat == pytest.approx(sent.lat, abs=2e-6 if legacy else 1e-7)


def test_legacy_mission_item_upload_is_accepted(gcs: GroundStation) -> None:
    items = survey(3)
    assert gcs.upload(items, legacy=True) == M.MAV_MISSION_ACCEPTED
    got = gcs.download()
    assert got[3].x / 1e7 == pytest.approx(items[3].lat, abs=2e-6)  # float32 on the wire


def test_out_of_sequence_item_is_nacked_and_asked_again(gcs: GroundStation) -> None:
    ts, tc = gcs.target_system, gcs.target_component
    gcs.mav.mission_count_send(ts, tc, 3, 0)
    req = gcs.recv("MISSION_REQUEST_INT")
    assert req.seq == 0
    gcs.mav.mission_item_int_send(ts, tc, 2, 6, 16, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0)
    ack = gcs.recv("MISSION_ACK")
    assert ack.type == M.MAV_MISSION_INVALID_SEQUENCE
    # The upload goes on: the vehicle asks for item 0 again (after its retry interval).
    assert gcs.recv("MISSION_REQUEST_INT", timeout=3).seq == 0


def test_too_many_items_is_no_space(gcs: GroundStation) -> None:
    gcs.mav.mission_count_send(gcs.target_system, gcs.target_component, 5000, 0)
    assert gcs.recv("MISSION_ACK").type == M.MAV_MISSION_NO_SPACE


def test_download_of_missing_item_is_invalid_sequence(gcs: GroundStation) -> None:
    gcs.mav.mission_request_int_send(gcs.target_system, gcs.target_component, 42, 0)
    assert gcs.recv("MISSION_ACK").type == M.MAV_MISSION_INVALID_SEQUENCE


def test_fence_and_rally_round_trip_and_clear(gcs: GroundStation, sim: SimulatorServer) -> None:
    fence = square_fence()
    assert gcs.upload(fence, FENCE) == M.MAV_MISSION_ACCEPTED
    rally = [Item(M.MAV_CMD_NAV_RALLY_POINT, *offset(*HOME[:2], 50, 50), 25, mission_type=RALLY)]
    assert gcs.upload(rally, RALLY) == M.MAV_MISSION_ACCEPTED
    got = gcs.download(FENCE)
    assert [m.command for m in got] == [M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION] * 4
    assert got[2].x / 1e7 == pytest.approx(fence[2].lat, abs=1e-7)
    assert len(gcs.download(RALLY)) == 1
    assert gcs.param_get("FENCE_TOTAL") == 4
    assert gcs.clear(M.MAV_MISSION_TYPE_ALL) == M.MAV_MISSION_ACCEPTED
    assert gcs.download(FENCE) == []
    assert gcs.download(RALLY) == []
    assert not sim.vehicle.fence_geom.has_polygon


def test_fence_with_incomplete_polygon_is_rejected(gcs: GroundStation) -> None:
    fence = square_fence()[:3]  # each vertex says the polygon has 4
    assert gcs.upload(fence, FENCE) == M.MAV_MISSION_INVALID_PARAM1
    bad_rally = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME[:2], 10, mission_type=RALLY)]
    assert gcs.upload(bad_rally, RALLY) == M.MAV_MISSION_UNSUPPORTED


def test_params_list_read_set(gcs: GroundStation, sim: SimulatorServer) -> None:
    values = gcs.param_list()
    for name in (
        "WPNAV_SPEED", "WPNAV_ACCEL", "RTL_ALT", "FENCE_ENABLE", "FENCE_ACTION",
        "FENCE_ALT_MAX", "FENCE_TYPE", "BATT_CAPACITY", "BATT_LOW_VOLT", "FS_BATT_ENABLE",
        "SYSID_THISMAV",
    ):  # fmt: skip
        assert name in values
    assert values["WPNAV_SPEED"] == 1000.0
    assert gcs.param_set("WPNAV_SPEED", 750) == 750.0
    assert gcs.param_get("WPNAV_SPEED") == 750.0
    assert sim.params["WPNAV_SPEED"] == 750.0
    # Integer parameters are stored rounded, as ArduPilot does.
    assert gcs.param_set("FENCE_ACTION", 2.4) == 2.0
    # FS_BATT_ENABLE is the legacy name of BATT_FS_LOW_ACT.
    gcs.param_set("FS_BATT_ENABLE", 1)
    assert gcs.param_get("BATT_FS_LOW_ACT") == 1.0


def test_unknown_parameter_gets_no_answer(gcs: GroundStation) -> None:
    gcs.mav.param_set_send(1, 1, b"NO_SUCH_PARAM", 1.0, M.MAV_PARAM_TYPE_REAL32)
    with pytest.raises(TimeoutError):
        gcs.recv("PARAM_VALUE", timeout=0.5, cond=lambda m: m.param_id == "NO_SUCH_PARAM")


def test_arming_checks_report_prearm_and_fail(gcs: GroundStation, sim: SimulatorServer) -> None:
    # A vehicle whose GPS never gets a fix (SITL's SIM_GPS_DISABLE).
    no_gps = SimulatorServer(home=HOME, speedup=20, params={"SIM_GPS_DISABLE": 1})
    with no_gps, GroundStation(no_gps.url) as g:
        assert g.arm() == M.MAV_RESULT_FAILED
        # The reasons come as status texts just before the COMMAND_ACK, as in ArduPilot.
        assert "PreArm: Need 3D Fix" in g.texts
        assert "PreArm: Need Position Estimate" in g.texts
        assert not no_gps.vehicle.armed
    gcs.wait_ready()
    # Fence enabled but no polygon loaded: refused, saying why.
    gcs.param_set("FENCE_ENABLE", 1)
    assert gcs.arm() == M.MAV_RESULT_FAILED
    assert any(t.startswith("PreArm: Fence") for t in gcs.texts)
    # Forcing skips the checks.
    assert gcs.arm(force=True) == M.MAV_RESULT_ACCEPTED
    gcs.wait_heartbeat(lambda m: m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    assert gcs.disarm() == M.MAV_RESULT_ACCEPTED


def test_mode_not_armable_and_auto_needs_mission(gcs: GroundStation) -> None:
    gcs.wait_ready()
    assert gcs.set_mode("AUTO") == M.MAV_RESULT_FAILED
    assert gcs.set_mode("RTL") == M.MAV_RESULT_ACCEPTED
    assert gcs.arm() == M.MAV_RESULT_FAILED
    assert "Arm: Mode not armable" in gcs.texts


def test_takeoff_is_refused_outside_guided_and_unknown_command(gcs: GroundStation) -> None:
    gcs.wait_ready()
    assert gcs.arm() == M.MAV_RESULT_ACCEPTED
    assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_FAILED
    assert gcs.command(M.MAV_CMD_DO_SET_PARAMETER, 1, 2) == M.MAV_RESULT_UNSUPPORTED


def test_set_message_interval_is_honoured(gcs: GroundStation) -> None:
    # 20 Hz of simulated time at speed-up 20 = 400 messages per wall-clock second.
    assert (
        gcs.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, 50000)
        == M.MAV_RESULT_ACCEPTED
    )
    assert (
        gcs.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_VFR_HUD, -1)
        == M.MAV_RESULT_ACCEPTED
    )
    gcs.drain(0.1)
    msgs = gcs.drain(0.5)
    attitudes = [m for m in msgs if m.get_type() == "ATTITUDE"]
    huds = [m for m in msgs if m.get_type() == "VFR_HUD"]
    assert not huds
    if len(attitudes) >= 2:
        dt_ms = (attitudes[-1].time_boot_ms - attitudes[0].time_boot_ms) / (len(attitudes) - 1)
        assert dt_ms == pytest.approx(50, abs=2)
    assert len(attitudes) > 40


def test_request_message_home_and_version(gcs: GroundStation) -> None:
    assert (
        gcs.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_HOME_POSITION)
        == M.MAV_RESULT_ACCEPTED
    )
    home = gcs.recv("HOME_POSITION")
    assert home.latitude / 1e7 == pytest.approx(HOME[0], abs=1e-6)
    assert home.altitude / 1000 == pytest.approx(HOME[2], abs=0.01)
    assert (
        gcs.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
        == M.MAV_RESULT_ACCEPTED
    )
    version = gcs.recv("AUTOPILOT_VERSION")
    assert version.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert version.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    assert gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 99999) == M.MAV_RESULT_FAILED


def test_telemetry_set_is_complete(gcs: GroundStation) -> None:
    gcs.wait_ready()
    gcs.param_set("FENCE_ENABLE", 1)
    seen = {m.get_type() for m in gcs.drain(0.6)}
    for name in (
        "HEARTBEAT", "SYS_STATUS", "GPS_RAW_INT", "GLOBAL_POSITION_INT", "ATTITUDE",
        "VFR_HUD", "BATTERY_STATUS", "EKF_STATUS_REPORT", "MISSION_CURRENT",
        "EXTENDED_SYS_STATE", "FENCE_STATUS", "SYSTEM_TIME",
    ):  # fmt: skip
        assert name in seen, name


def test_messages_for_other_systems_are_ignored(gcs: GroundStation) -> None:
    gcs.mav.command_long_send(9, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 21196, 0, 0, 0, 0, 0)
    with pytest.raises(TimeoutError):
        gcs.recv("COMMAND_ACK", timeout=0.4)


def test_two_simulators_at_once_have_their_own_ports_and_ids() -> None:
    with (
        SimulatorServer(kind="copter", home=HOME, speedup=20, sysid=11) as a,
        SimulatorServer(kind="rover", home=HOME, speedup=20, sysid=12) as b,
    ):
        assert a.url != b.url
        with GroundStation(a.url, target_system=11) as ga, GroundStation(b.url, 12) as gb:
            assert ga.kind == "copter" and gb.kind == "rover"
            assert ga.param_get("SYSID_THISMAV") == 11
            assert gb.param_get("SYSID_THISMAV") == 12


def test_udp_transport() -> None:
    with SimulatorServer(kind="copter", home=HOME, speedup=20, transport="udp") as sim:
        assert sim.url.startswith("udpin:127.0.0.1:")
        with GroundStation(sim.url) as gcs:
            assert gcs.param_get("WPNAV_SPEED") == 1000.0
            assert gcs.upload(survey(2)) == M.MAV_MISSION_ACCEPTED


def test_bad_arguments_raise_simulator_error() -> None:
    with pytest.raises(SimulatorError, match="kind"):
        SimulatorServer(kind="plane")
    with pytest.raises(SimulatorError, match="speedup"):
        SimulatorServer(speedup=0)
    with pytest.raises(SimulatorError, match="sysid"):
        SimulatorServer(sysid=300)
    with pytest.raises(SimulatorError, match="NOPE"):
        SimulatorServer(params={"NOPE": 1})


def test_busy_port_is_a_clear_error(sim: SimulatorServer) -> None:
    with pytest.raises(SimulatorError, match=f"port {sim.port}"):
        SimulatorServer(port=sim.port).start()


def test_stop_is_quick_and_idempotent() -> None:
    import time

    sim = SimulatorServer(speedup=1)
    sim.start()
    t0 = time.monotonic()
    sim.stop()
    sim.stop()
    assert time.monotonic() - t0 < 0.5
    assert not sim.running


def test_clock_is_simulated_unless_wall_clock() -> None:
    import time

    for wall in (False, True):
        with SimulatorServer(home=HOME, speedup=50, epoch_unix_s=1.8e9, wall_clock=wall) as sim:
            g = GroundStation(sim.url)
            g.recv("SYSTEM_TIME", cond=lambda m: m.time_boot_ms > 5000)
            msg = g.recv("SYSTEM_TIME")
            g.close()
        if wall:
            assert abs(msg.time_unix_usec / 1e6 - time.time()) < 2.0
        else:  # SITL-like: epoch + simulated seconds since boot
            assert msg.time_unix_usec == pytest.approx(1.8e15 + msg.time_boot_ms * 1e3, abs=2e4)
