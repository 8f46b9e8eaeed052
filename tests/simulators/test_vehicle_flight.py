"""Flights in the built-in simulator: a whole AUTO survey over a real socket (camera feedback
with the pose, RTL, landing, disarm), GUIDED flying, pause/continue, and kinematic sanity of the
vehicle model (time to fly a known leg, speed/climb/turn limits)."""

from __future__ import annotations

import itertools
import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import ParamStore, SimulatorServer, Vehicle
from simulators.vehicle.gcs import GroundStation, Item, offset
from simulators.vehicle.items import StoredItem

HOME = (41.7, 123.4, 42.0)
M_PER_DEG = 6378137.0 * math.pi / 180.0


def local(lat: float, lon: float) -> tuple[float, float]:
    return (lat - HOME[0]) * M_PER_DEG, (lon - HOME[1]) * M_PER_DEG * math.cos(
        math.radians(HOME[0])
    )


def survey_items(alt: float = 30.0, trigger_m: float = 20.0) -> list[Item]:
    """Takeoff, two 200 m legs joined by a 60 m step with the camera on, then RTL."""
    pts = [(0, 0), (200, 0), (200, 60), (0, 60)]
    items = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)]
    items.append(Item(M.MAV_CMD_NAV_TAKEOFF, alt=alt))
    items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], *pts[0]), alt))
    items.append(Item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=trigger_m, param3=1))
    for p in pts[1:]:
        items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], *p), alt))
    items.append(Item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=0))
    items.append(Item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return items


def fence_items(half_m: float) -> list[Item]:
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    return [
        Item(
            M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            *offset(*HOME[:2], n, e),
            param1=4,
            mission_type=M.MAV_MISSION_TYPE_FENCE,
        )
        for n, e in corners
    ]


@pytest.mark.slow
def test_auto_survey_with_camera_feedback_rtl_land_disarm() -> None:
    with SimulatorServer(kind="copter", home=HOME, speedup=40, seed=5) as sim:
        gcs = GroundStation(sim.url)
        assert gcs.upload(survey_items()) == M.MAV_MISSION_ACCEPTED
        assert gcs.upload(fence_items(400), M.MAV_MISSION_TYPE_FENCE) == M.MAV_MISSION_ACCEPTED
        gcs.wait_ready()
        assert gcs.command(M.MAV_CMD_DO_FENCE_ENABLE, 1) == M.MAV_RESULT_ACCEPTED
        assert gcs.set_mode("AUTO") == M.MAV_RESULT_ACCEPTED
        assert gcs.arm() == M.MAV_RESULT_ACCEPTED  # AUTO_OPTIONS=3: arm in AUTO, take off
        feedback, reached, states = [], [], []
        while True:
            msg = gcs.recv(
                ("CAMERA_FEEDBACK", "MISSION_ITEM_REACHED", "MISSION_CURRENT", "HEARTBEAT"),
                timeout=15,
            )
            kind = msg.get_type()
            if kind == "CAMERA_FEEDBACK":
                feedback.append(msg)
            elif kind == "MISSION_ITEM_REACHED":
                reached.append(msg.seq)
            elif kind == "MISSION_CURRENT":
                states.append(msg.mission_state)
            elif reached and not msg.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED:
                break
        gcs.close()
        assert reached == [1, 2, 4, 5, 6, 8]
        assert states[-1] == M.MISSION_STATE_COMPLETE
        # 460 m of camera-on path at 20 m spacing, plus the immediate shot at the start.
        assert 23 <= len(feedback) <= 24
        assert [f.img_idx for f in feedback] == list(range(1, len(feedback) + 1))
        for f in feedback:
            n, e = local(f.lat / 1e7, f.lng / 1e7)
            # Each pose lies on the camera-on legs (GPS noise and cornering: a few metres).
            on_leg = (min(abs(e), abs(e - 60)) < 4 and -4 < n < 204) or abs(n - 200) < 4
            assert on_leg, (n, e)
            assert f.alt_rel == pytest.approx(30.0, abs=1.5)
            assert f.alt_msl == pytest.approx(72.0, abs=1.5)
            assert abs(f.roll) < 35 and abs(f.pitch) < 35
        gaps = [
            math.dist(local(a.lat / 1e7, a.lng / 1e7), local(b.lat / 1e7, b.lng / 1e7))
            for a, b in itertools.pairwise(feedback[1:])
        ]
        assert all(15 < g < 25 for g in gaps), gaps
        v = sim.vehicle
        assert not v.armed and v.landed
        assert math.hypot(v.body.n, v.body.e) < 2.0  # landed back at home
        assert v.breach_count == 0


def test_guided_takeoff_reposition_land() -> None:
    with SimulatorServer(kind="copter", home=HOME, speedup=40, seed=2) as sim:
        gcs = GroundStation(sim.url)
        gcs.wait_ready()
        assert gcs.set_mode("GUIDED") == M.MAV_RESULT_ACCEPTED
        assert gcs.arm() == M.MAV_RESULT_ACCEPTED
        assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0, 15) == 0
        assert sim.wait_until(lambda v: v.alt_rel_m > 14.5, timeout=10)
        lat, lon = offset(*HOME[:2], 80, -40)
        result = gcs.command_int(M.MAV_CMD_DO_REPOSITION, lat, lon, 25, -1, 1, 0, math.nan)
        assert result == M.MAV_RESULT_ACCEPTED
        assert sim.wait_until(
            lambda v: (
                math.dist((v.body.n, v.body.e), (80, -40)) < 1.5 and abs(v.alt_rel_m - 25) < 0.5
            ),
            timeout=15,
        )
        lat, lon = offset(*HOME[:2], 0, 30)
        gcs.mav.set_position_target_global_int_send(
            0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b0000111111111000,
            round(lat * 1e7), round(lon * 1e7), 20, 0, 0, 0, 0, 0, 0, 0, 0,
        )  # fmt: skip
        assert sim.wait_until(lambda v: math.dist((v.body.n, v.body.e), (0, 30)) < 1.5, 15)
        assert gcs.command(M.MAV_CMD_NAV_LAND) == M.MAV_RESULT_ACCEPTED
        gcs.wait_mode("LAND")
        gcs.wait_disarmed(timeout=20)
        assert sim.vehicle.landed
        gcs.close()


def test_pause_holds_and_continue_resumes() -> None:
    with SimulatorServer(kind="copter", home=HOME, speedup=40, seed=2) as sim:
        gcs = GroundStation(sim.url)
        assert gcs.upload(survey_items()) == M.MAV_MISSION_ACCEPTED
        gcs.wait_ready()
        assert gcs.arm() == M.MAV_RESULT_ACCEPTED  # in STABILIZE
        assert gcs.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
        gcs.wait_mode("AUTO")
        assert sim.wait_until(lambda v: v.body.n > 80, timeout=15)
        assert gcs.command(M.MAV_CMD_DO_PAUSE_CONTINUE, 0) == M.MAV_RESULT_ACCEPTED
        assert sim.wait_until(lambda v: v.body.ground_speed < 0.3, timeout=5)
        n0 = sim.vehicle.body.n
        t0 = sim.vehicle.time_s
        assert sim.wait_until(lambda v: v.time_s > t0 + 10, timeout=5)
        assert abs(sim.vehicle.body.n - n0) < 1.0
        assert gcs.command(M.MAV_CMD_DO_PAUSE_CONTINUE, 1) == M.MAV_RESULT_ACCEPTED
        assert sim.wait_until(lambda v: v.body.n > n0 + 20, timeout=5)
        gcs.close()


# --------------------------------------------------------------------------- the model alone


def item(
    seq: int, command: int, n: float | None = None, e: float = 0, alt: float = 0, **p: float
) -> StoredItem:
    """A mission item at `n`, `e` metres from home (no position when `n` is None)."""
    lat, lon = offset(*HOME[:2], n, e) if n is not None else (0.0, 0.0)
    return StoredItem(
        seq, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command, 0, 1,
        p.get("p1", 0.0), p.get("p2", 0.0), p.get("p3", 0.0), p.get("p4", 0.0),
        round(lat * 1e7), round(lon * 1e7), alt,
    )  # fmt: skip


def ready_vehicle(kind: str = "copter", seed: int = 0, **params: float) -> Vehicle:
    v = Vehicle(kind, HOME, ParamStore(kind, params), seed=seed, epoch_unix_s=1.8e9)
    for _ in range(250):
        v.step(0.02)
    assert v.ekf_ok
    return v


def run(v: Vehicle, seconds: float, until: object = None) -> float:
    """Step `v` for up to `seconds`; returns the simulated time when `until(v)` first held."""
    for _ in range(round(seconds / 0.02)):
        v.step(0.02)
        if callable(until) and until(v):
            return v.time_s
    return v.time_s


def test_time_to_fly_a_known_leg() -> None:
    v = ready_vehicle(WPNAV_SPEED=1000, WPNAV_ACCEL=250, SIM_GPS_NOISE=0)
    v.set_mode("GUIDED")
    assert v.arm()[0]
    assert v.takeoff(20)[0]
    run(v, 30, lambda v: v.alt_rel_m > 19.9 and abs(v.body.vu) < 0.05)
    lat, lon = offset(*HOME[:2], 500, 0)
    max_speed = 0.0
    start = v.time_s
    assert v.goto(lat, lon, 20, None)
    for _ in range(round(120 / 0.02)):
        v.step(0.02)
        max_speed = max(max_speed, v.body.ground_speed)
        if abs(v.body.n - 500) < 0.5 and v.body.ground_speed < 0.1:
            break
    elapsed = v.time_s - start
    # 500 m at 10 m/s with 2.5 m/s² to speed up and slow down: 50 s + 4 s.
    assert elapsed == pytest.approx(54.0, rel=0.08)
    assert max_speed == pytest.approx(10.0, abs=0.1)


def test_climb_and_descent_rates_follow_parameters() -> None:
    v = ready_vehicle(WPNAV_SPEED_UP=250, WPNAV_SPEED_DN=150, LAND_SPEED=50, SIM_GPS_NOISE=0)
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(40)
    climbs = []
    for _ in range(round(30 / 0.02)):
        v.step(0.02)
        climbs.append(v.body.vu)
    assert max(climbs) == pytest.approx(2.5, abs=0.05)
    v.set_mode("LAND")
    rates = []
    for _ in range(round(60 / 0.02)):
        v.step(0.02)
        rates.append((v.body.u, v.body.vu))
        if not v.armed:
            break
    assert not v.armed and v.landed
    assert min(vu for _u, vu in rates) == pytest.approx(-1.5, abs=0.05)
    # Below LAND_ALT_LOW (10 m) the final descent is at LAND_SPEED.
    low = [vu for u, vu in rates if 0.5 < u < 8.0]
    assert max(abs(x) for x in low) == pytest.approx(0.5, abs=0.05)


def test_rover_drives_square_within_turn_and_speed_limits() -> None:
    v = ready_vehicle("rover", CRUISE_SPEED=3.0, TURN_RADIUS=2.0, SIM_GPS_NOISE=0)
    square = [(40, 0), (40, 40), (0, 40), (0, 0)]
    items = [v.home_item()]
    items += [item(i + 1, M.MAV_CMD_NAV_WAYPOINT, n, e) for i, (n, e) in enumerate(square)]
    v.set_list(M.MAV_MISSION_TYPE_MISSION, items)
    assert v.set_mode("AUTO")[0]
    assert v.arm()[0]
    reached: list[int] = []
    v.emit = lambda m: reached.append(m.seq) if m.get_type() == "MISSION_ITEM_REACHED" else None
    speeds, rates = [], []
    for _ in range(round(200 / 0.02)):
        v.step(0.02)
        speeds.append(v.body.ground_speed)
        rates.append(abs(v.body.yaw_rate_dps))
        if v.mission_state == M.MISSION_STATE_COMPLETE:
            break
    assert reached == [1, 2, 3, 4]
    assert max(speeds) <= 3.0 + 1e-6
    # No tighter than TURN_RADIUS: yaw rate ≤ v / r (or the 20°/s pivot floor at low speed).
    for s, r in zip(speeds, rates, strict=True):
        assert r <= max(math.degrees(s / 2.0), 20.0) + 1.0
    assert math.hypot(v.body.n, v.body.e) < 4.0
    assert v.mode == "AUTO" and v.armed  # a rover holds at the end of its mission


def test_loiter_time_and_change_speed_in_mission() -> None:
    v = ready_vehicle(SIM_GPS_NOISE=0)
    items = [v.home_item(), item(1, M.MAV_CMD_NAV_TAKEOFF, alt=10)]
    items.append(item(2, M.MAV_CMD_DO_CHANGE_SPEED, p1=1, p2=4.0))
    items.append(item(3, M.MAV_CMD_NAV_LOITER_TIME, 100, 0, 10, p1=20))
    items.append(item(4, M.MAV_CMD_NAV_LAND))
    v.set_list(M.MAV_MISSION_TYPE_MISSION, items)
    v.set_mode("AUTO")
    assert v.arm()[0]
    run(v, 60, lambda v: v.current_seq == 3)
    speeds = []
    arrived = None
    for _ in range(round(100 / 0.02)):
        v.step(0.02)
        speeds.append(v.body.ground_speed)
        if arrived is None and abs(v.body.n - 100) < 2.0:
            arrived = v.time_s
        if v.current_seq == 4:
            break
    assert max(speeds) == pytest.approx(4.0, abs=0.05)
    assert arrived is not None
    assert v.time_s - arrived == pytest.approx(20.0, abs=1.5)  # loitered 20 s
    run(v, 60, lambda v: not v.armed)
    assert not v.armed and v.landed and v.mission_state == M.MISSION_STATE_COMPLETE


def test_battery_drains_with_flight_and_speed() -> None:
    v = ready_vehicle(BATT_CAPACITY=10000, SIM_GPS_NOISE=0)
    idle_mah = v.consumed_mah
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(20)
    run(v, 30, lambda v: v.alt_rel_m > 19.9 and abs(v.body.vu) < 0.05)
    start_mah, start_v = v.consumed_mah, v.voltage
    run(v, 60)  # hover a minute
    hover_mah = v.consumed_mah - start_mah
    v.goto(*offset(*HOME[:2], 2000, 0), 20, None)
    run(v, 20, lambda v: v.body.ground_speed > 9.9)
    before = v.consumed_mah
    run(v, 60)  # a minute at 10 m/s
    cruise_mah = v.consumed_mah - before
    assert idle_mah < 10  # disarmed on the ground for 5 s: next to nothing
    assert hover_mah == pytest.approx(18.0 * 60 / 3.6, rel=0.05)  # 18 A hover for 60 s
    assert cruise_mah > hover_mah * 1.2  # drag costs power
    assert v.voltage < start_v
    assert 80 < v.battery_remaining_pct < 100
