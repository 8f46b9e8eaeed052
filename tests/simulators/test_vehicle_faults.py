"""Fault scenarios of the built-in simulator: fence breaches (polygon, exclusion, altitude) and
their FENCE_ACTION, low battery → RTL, GPS loss → LAND, motor failure → LAND, link loss and the
ground-station failsafe, and wind."""

from __future__ import annotations

import math
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import ParamStore, SimulatorServer, Vehicle
from simulators.vehicle.gcs import GroundStation, Item, offset
from simulators.vehicle.items import StoredItem

HOME = (41.7, 123.4, 42.0)
FENCE = M.MAV_MISSION_TYPE_FENCE


def out_and_back(distance_m: float, alt: float = 25.0) -> list[Item]:
    items = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)]
    items.append(Item(M.MAV_CMD_NAV_TAKEOFF, alt=alt))
    items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], distance_m, 0), alt))
    items.append(Item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return items


def square(half_m: float, command: int, center: tuple[float, float] = (0, 0)) -> list[Item]:
    cn, ce = center
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    return [
        Item(command, *offset(*HOME[:2], cn + n, ce + e), param1=4, mission_type=FENCE)
        for n, e in corners
    ]


def start_auto(gcs: GroundStation, items: list[Item]) -> None:
    assert gcs.upload(items) == M.MAV_MISSION_ACCEPTED
    gcs.wait_ready()
    assert gcs.set_mode("AUTO") == M.MAV_RESULT_ACCEPTED
    assert gcs.arm() == M.MAV_RESULT_ACCEPTED


def test_polygon_fence_breach_triggers_rtl_and_fence_status() -> None:
    with SimulatorServer(home=HOME, speedup=40, seed=1, params={"FENCE_ACTION": 1}) as sim:
        gcs = GroundStation(sim.url)
        inclusion = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
        assert gcs.upload(square(100, inclusion), FENCE) == M.MAV_MISSION_ACCEPTED
        assert gcs.param_set("FENCE_ENABLE", 1) == 1
        start_auto(gcs, out_and_back(300))
        status = gcs.recv("FENCE_STATUS", timeout=15, cond=lambda m: m.breach_status == 1)
        assert status.breach_type == M.FENCE_BREACH_BOUNDARY
        assert status.breach_count == 1
        gcs.wait_mode("RTL", timeout=5)
        assert any(t.startswith("Fence Breach") for t in gcs.texts)
        # It turned back near the fence line, not at the 300 m waypoint.
        assert 95 < sim.vehicle.body.n < 140
        gcs.wait_disarmed(timeout=20)
        assert math.hypot(sim.vehicle.body.n, sim.vehicle.body.e) < 3
        gcs.close()


def test_low_battery_failsafe_returns_home() -> None:
    with SimulatorServer(home=HOME, speedup=40, seed=1) as sim:
        gcs = GroundStation(sim.url)
        start_auto(gcs, out_and_back(400))
        assert sim.wait_until(lambda v: v.body.n > 100, timeout=15)
        sim.faults.low_battery(remaining_pct=5)
        gcs.wait_mode("RTL", timeout=5)
        assert any(t.startswith("Battery 1 is low") for t in gcs.texts)
        batt = gcs.recv("BATTERY_STATUS")
        assert batt.charge_state == M.MAV_BATTERY_CHARGE_STATE_LOW
        assert batt.battery_remaining <= 5
        hb = gcs.recv("HEARTBEAT")
        assert hb.system_status == M.MAV_STATE_CRITICAL
        gcs.close()


def test_gps_loss_lands_and_reports_no_fix() -> None:
    with SimulatorServer(home=HOME, speedup=40, seed=1) as sim:
        gcs = GroundStation(sim.url)
        start_auto(gcs, out_and_back(400))
        assert sim.wait_until(lambda v: v.body.n > 60, timeout=15)
        sim.faults.gps_loss()
        gps = gcs.recv("GPS_RAW_INT", cond=lambda m: m.fix_type < M.GPS_FIX_TYPE_3D_FIX)
        assert gps.satellites_visible == 0
        gcs.wait_mode("LAND", timeout=5)
        assert any("EKF Failsafe" in t for t in gcs.texts)
        ekf = gcs.recv("EKF_STATUS_REPORT")
        assert not ekf.flags & M.EKF_POS_HORIZ_ABS
        # Modes that need a position are refused until the GPS is back.
        assert gcs.set_mode("GUIDED") == M.MAV_RESULT_FAILED
        gcs.wait_disarmed(timeout=20)
        gcs.close()


def test_link_loss_silences_both_ways_then_recovers() -> None:
    with SimulatorServer(home=HOME, speedup=20, seed=1) as sim:
        gcs = GroundStation(sim.url)
        gcs.drain(0.1)
        sim.faults.link_loss(duration_s=20)  # simulated seconds: 1 s of wall clock
        gcs.drain(0.05)
        assert gcs.drain(0.4) == []
        # A command sent during the outage is lost, like on a real radio link.
        gcs.mav.param_set_send(1, 1, b"WPNAV_SPEED", 600, M.MAV_PARAM_TYPE_REAL32)
        gcs.recv("HEARTBEAT", timeout=3)
        assert sim.params["WPNAV_SPEED"] == 1000
        gcs.close()


def test_ground_station_failsafe_after_heartbeats_stop() -> None:
    with SimulatorServer(home=HOME, speedup=20, seed=1, params={"FS_GCS_TIMEOUT": 0.5}) as sim:
        gcs = GroundStation(sim.url)
        start_auto(gcs, out_and_back(400))
        assert sim.wait_until(lambda v: v.body.n > 30, timeout=15)
        # Enabled only now: this script does not send the 1 Hz heartbeats a real GCS would.
        assert gcs.param_set("FS_GCS_ENABLE", 1) == 1
        gcs.heartbeat()
        assert sim.wait_until(lambda v: v.last_gcs_heartbeat is not None, timeout=2)
        sim.faults.link_loss()
        time.sleep(0.2)
        assert sim.vehicle.mode == "AUTO"  # not yet: 0.5 s wall clock and simulated
        assert sim.wait_until(lambda v: v.mode == "RTL", timeout=3)
        sim.faults.restore_link()
        gcs.heartbeat()
        gcs.wait_mode("RTL")
        assert sim.wait_until(lambda v: not v.gcs_failsafe, timeout=2)
        gcs.close()


# --------------------------------------------------------------------------- the model alone


def ready(**params: float) -> Vehicle:
    v = Vehicle("copter", HOME, ParamStore("copter", params), seed=4, epoch_unix_s=1.8e9)
    for _ in range(200):
        v.step(0.02)
    return v


def fly(v: Vehicle, seconds: float, until: object = None) -> bool:
    for _ in range(round(seconds / 0.02)):
        v.step(0.02)
        if callable(until) and until(v):
            return True
    return False


def fence_item(seq: int, command: int, n: float, e: float, p1: float) -> StoredItem:
    lat, lon = offset(*HOME[:2], n, e)
    return StoredItem(
        seq, M.MAV_FRAME_GLOBAL, command, 0, 1, p1, 0, 0, 0,
        round(lat * 1e7), round(lon * 1e7), 0, FENCE,
    )  # fmt: skip


def test_exclusion_circle_breach_lands_when_action_is_land() -> None:
    v = ready(FENCE_ENABLE=1, FENCE_ACTION=2, FENCE_TYPE=4)
    v.set_list(FENCE, [fence_item(0, M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 80, 0, 20)])
    v.set_mode("GUIDED")
    assert v.arm()[0]
    v.takeoff(20)
    fly(v, 20, lambda v: v.alt_rel_m > 19.5)
    v.goto(*offset(*HOME[:2], 150, 0), 20, None)
    assert fly(v, 40, lambda v: v.mode == "LAND")
    assert v.breach_type == M.FENCE_BREACH_BOUNDARY
    assert 55 < v.body.n < 75  # stopped at the circle's edge (60 m), not inside it
    assert fly(v, 60, lambda v: not v.armed)


def test_altitude_fence_breach_returns() -> None:
    v = ready(FENCE_ENABLE=1, FENCE_ACTION=1, FENCE_TYPE=1, FENCE_ALT_MAX=30)
    v.set_mode("GUIDED")
    assert v.arm()[0]
    v.takeoff(45)
    assert fly(v, 40, lambda v: v.mode == "RTL")
    assert v.breach_type == M.FENCE_BREACH_MAXALT
    assert 30 < v.alt_rel_m < 33
    # RTL does not climb above the fence: it comes down and lands.
    assert fly(v, 120, lambda v: not v.armed)
    assert v.breach_count == 1


def test_motor_failure_lands_and_refuses_other_modes() -> None:
    v = ready()
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(30)
    fly(v, 20, lambda v: v.alt_rel_m > 29)
    v.fail_motor()
    assert v.mode == "LAND"
    ok, reason = v.set_mode("GUIDED")
    assert not ok and "motor" in reason
    assert fly(v, 60, lambda v: not v.armed)
    assert v.landed


def test_wind_tilts_the_copter_and_position_hold_copes() -> None:
    v = ready(SIM_WIND_SPD=8, SIM_WIND_DIR=270, SIM_WIND_TURB=1, SIM_GPS_NOISE=0)
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(20)
    fly(v, 20, lambda v: v.alt_rel_m > 19.5)
    worst = 0.0
    rolls = []
    for _ in range(round(30 / 0.02)):
        v.step(0.02)
        worst = max(worst, math.hypot(v.body.n, v.body.e))
        rolls.append(v.body.roll_deg)
    assert worst < 3.0
    # Wind from the west pushes east; facing north the copter rolls left (negative) into it.
    assert sum(rolls) / len(rolls) < -5.0


@pytest.mark.parametrize("action, mode", [(1, "RTL"), (2, "HOLD")])
def test_rover_fence_actions(action: int, mode: str) -> None:
    v = Vehicle("rover", HOME, ParamStore("rover", {"FENCE_ENABLE": 1, "FENCE_ACTION": action}))
    fly(v, 4)
    inclusion = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    corners = [(-30, -30), (-30, 30), (30, 30), (30, -30)]
    v.set_list(FENCE, [fence_item(i, inclusion, n, e, 4) for i, (n, e) in enumerate(corners)])
    v.set_mode("GUIDED")
    assert v.arm()[0]
    v.goto(*offset(*HOME[:2], 80, 0), 0, None)
    assert fly(v, 60, lambda v: v.mode == mode)
    assert 28 < v.body.n < 36


def test_copter_refuses_a_guided_destination_outside_an_enabled_fence() -> None:
    """As ArduCopter (AC_Fence::check_destination_within_fence): the destination is checked,
    the leg to it is not; with the fence disabled anything goes."""
    v = ready(FENCE_ENABLE=1, FENCE_TYPE=5, FENCE_ALT_MAX=60)
    inclusion = M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    corners = [(-50, -50), (-50, 50), (50, 50), (50, -50)]
    v.set_list(FENCE, [fence_item(i, inclusion, n, e, 4) for i, (n, e) in enumerate(corners)])
    v.set_mode("GUIDED")
    assert v.arm()[0]
    assert v.takeoff(20)[0]
    fly(v, 20, lambda v: v.alt_rel_m > 19)
    assert not v.goto(*offset(*HOME[:2], 80, 0), 20, None)  # outside the polygon
    assert not v.goto(*offset(*HOME[:2], 10, 0), 80, None)  # above FENCE_ALT_MAX
    assert v.goto(*offset(*HOME[:2], 40, 0), 20, None)
    assert fly(v, 30, lambda v: v.body.n > 38)
    v.params.set("FENCE_ENABLE", 0)
    assert v.goto(*offset(*HOME[:2], 80, 0), 20, None)
