"""Mission semantics beyond the straight survey: DO_JUMP, MISSION_SET_CURRENT, RTL to the nearest
rally point, a new mission uploaded in flight, cornering, SMART_RTL, BRAKE, message intervals,
and an upload refused while another station is mid-upload."""

from __future__ import annotations

import math

from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import ParamStore, SimulatorServer, Vehicle
from simulators.vehicle.gcs import GroundStation, Item, offset
from simulators.vehicle.items import StoredItem

HOME = (41.7, 123.4, 42.0)
MISSION = M.MAV_MISSION_TYPE_MISSION
RALLY = M.MAV_MISSION_TYPE_RALLY


def at(
    seq: int, cmd: int, n: float | None = None, e: float = 0, alt: float = 0, **p: float
) -> StoredItem:
    lat, lon = offset(*HOME[:2], n, e) if n is not None else (0.0, 0.0)
    mission_type = int(p.pop("mission_type", MISSION))
    return StoredItem(
        seq, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, cmd, 0, 1,
        p.get("p1", 0.0), p.get("p2", 0.0), p.get("p3", 0.0), p.get("p4", 0.0),
        round(lat * 1e7), round(lon * 1e7), alt, mission_type,
    )  # fmt: skip


def vehicle(kind: str = "copter", **params: float) -> tuple[Vehicle, list[object]]:
    params.setdefault("SIM_GPS_NOISE", 0.0)
    v = Vehicle(kind, HOME, ParamStore(kind, params), seed=1, epoch_unix_s=1.8e9)
    sent: list[object] = []
    v.emit = sent.append
    for _ in range(200):
        v.step(0.02)
    return v, sent


def fly(v: Vehicle, seconds: float, until: object = None) -> bool:
    for _ in range(round(seconds / 0.02)):
        v.step(0.02)
        if callable(until) and until(v):
            return True
    return False


def reached(sent: list[object]) -> list[int]:
    return [m.seq for m in sent if m.get_type() == "MISSION_ITEM_REACHED"]  # type: ignore[attr-defined]


def test_do_jump_repeats_a_leg() -> None:
    v, sent = vehicle()
    v.set_list(MISSION, [
        v.home_item(),
        at(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
        at(2, M.MAV_CMD_NAV_WAYPOINT, 30, 0, 10),
        at(3, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 10),
        at(4, M.MAV_CMD_DO_JUMP, p1=2, p2=2),
        at(5, M.MAV_CMD_NAV_LAND),
    ])  # fmt: skip
    v.set_mode("AUTO")
    assert v.arm()[0]
    assert fly(v, 200, lambda v: not v.armed)
    assert reached(sent) == [1, 2, 3, 2, 3, 2, 3, 5]


def test_set_current_skips_ahead() -> None:
    v, sent = vehicle()
    v.set_list(MISSION, [
        v.home_item(),
        at(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
        at(2, M.MAV_CMD_NAV_WAYPOINT, 200, 0, 10),
        at(3, M.MAV_CMD_NAV_WAYPOINT, 0, 20, 10),
        at(4, M.MAV_CMD_NAV_LAND),
    ])  # fmt: skip
    v.set_mode("AUTO")
    v.arm()
    fly(v, 60, lambda v: v.current_seq == 2 and v.body.n > 10)
    assert v.set_current(3)
    assert fly(v, 120, lambda v: not v.armed)
    assert 2 not in reached(sent)
    assert v.body.n < 20  # never went to the 200 m waypoint
    assert not v.set_current(9)


def test_rtl_goes_to_the_nearest_rally_point() -> None:
    v, _ = vehicle()
    v.set_list(RALLY, [at(0, M.MAV_CMD_NAV_RALLY_POINT, 150, 0, 20, mission_type=RALLY)])
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(20)
    fly(v, 20, lambda v: v.alt_rel_m > 19.5)
    v.goto(*offset(*HOME[:2], 180, 10), 20, None)
    fly(v, 60, lambda v: v.body.n > 175)
    assert v.set_mode("RTL")[0]
    assert fly(v, 120, lambda v: not v.armed)
    assert math.dist((v.body.n, v.body.e), (150, 0)) < 2.0  # landed at the rally point


def test_new_mission_uploaded_in_flight_is_flown_from_the_same_index() -> None:
    v, _ = vehicle()
    v.set_list(MISSION, [
        v.home_item(),
        at(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
        at(2, M.MAV_CMD_NAV_WAYPOINT, 100, 0, 10),
        at(3, M.MAV_CMD_NAV_WAYPOINT, 100, 100, 10),
        at(4, M.MAV_CMD_NAV_LAND),
    ])  # fmt: skip
    v.set_mode("AUTO")
    v.arm()
    fly(v, 60, lambda v: v.current_seq == 2)
    v.set_list(MISSION, [
        v.home_item(),
        at(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
        at(2, M.MAV_CMD_NAV_WAYPOINT, 100, 0, 10),
        at(3, M.MAV_CMD_NAV_WAYPOINT, 100, -50, 10),
        at(4, M.MAV_CMD_NAV_LAND),
    ])  # fmt: skip
    assert fly(v, 120, lambda v: not v.armed)
    assert math.dist((v.body.n, v.body.e), (100, -50)) < 2.0


def test_copter_keeps_speed_through_a_shallow_turn_and_stops_for_a_sharp_one() -> None:
    def min_speed_near_corner(second: tuple[float, float]) -> float:
        v, _ = vehicle()
        v.set_list(MISSION, [
            v.home_item(),
            at(1, M.MAV_CMD_NAV_TAKEOFF, alt=10),
            at(2, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 10),
            at(3, M.MAV_CMD_NAV_WAYPOINT, 150, 0, 10),
            at(4, M.MAV_CMD_NAV_WAYPOINT, *second, 10),
        ])  # fmt: skip
        v.set_mode("AUTO")
        v.arm()
        slowest = 99.0
        for _ in range(round(120 / 0.02)):
            v.step(0.02)
            if math.dist((v.body.n, v.body.e), (150, 0)) < 5:
                slowest = min(slowest, v.body.ground_speed)
            if v.current_seq == 4 and v.body.n > 200:
                break
        return slowest

    assert min_speed_near_corner((300, 40)) > 7.0  # 15° turn
    assert min_speed_near_corner((150, 150)) < 3.5  # 90° turn


def test_rover_smart_rtl_retraces_its_path() -> None:
    v, _ = vehicle("rover")
    v.set_mode("GUIDED")
    v.arm()
    v.goto(*offset(*HOME[:2], 0, 40), 0, None)
    fly(v, 60, lambda v: v.body.e > 38)
    v.goto(*offset(*HOME[:2], 40, 40), 0, None)
    fly(v, 60, lambda v: v.body.n > 38)
    assert v.set_mode("SMART_RTL")[0]
    worst_off_path = 0.0
    for _ in range(round(120 / 0.02)):
        v.step(0.02)
        b = v.body
        # The path out was along e=0..40 (n=0) then n=0..40 (e=40): distance to that L.
        d = min(abs(b.n) if -2 < b.e < 42 else 99, abs(b.e - 40) if -2 < b.n < 42 else 99)
        worst_off_path = max(worst_off_path, d)
        if math.hypot(b.n, b.e) < 2.5 and b.ground_speed < 0.1:
            break
    assert math.hypot(v.body.n, v.body.e) < 2.5
    assert worst_off_path < 6.0  # not the straight diagonal home


def test_brake_stops_quickly() -> None:
    v, _ = vehicle()
    v.set_mode("GUIDED")
    v.arm()
    v.takeoff(10)
    fly(v, 20, lambda v: v.alt_rel_m > 9.8)
    v.goto(*offset(*HOME[:2], 300, 0), 10, None)
    fly(v, 40, lambda v: v.body.ground_speed > 9.9)
    n0 = v.body.n
    assert v.set_mode("BRAKE")[0]
    fly(v, 15)
    # 10 m/s at 2.5 m/s²: 20 m to stop, and it holds there.
    assert v.body.ground_speed < 0.1
    assert 15 < v.body.n - n0 < 30


def test_message_interval_query_and_busy_upload() -> None:
    with SimulatorServer(home=HOME, speedup=20) as sim:
        a = GroundStation(sim.url, source_system=250)
        b = GroundStation(sim.url, source_system=251)
        assert a.command(M.MAV_CMD_GET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_GPS_RAW_INT) == 0
        reply = a.recv("MESSAGE_INTERVAL", cond=lambda m: m.message_id == 24)
        assert reply.interval_us == 500000
        a.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_VFR_HUD, -1)
        a.command(M.MAV_CMD_GET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_VFR_HUD)
        assert a.recv("MESSAGE_INTERVAL", cond=lambda m: m.message_id == 74).interval_us == -1
        # A is mid-upload; B's upload is refused rather than mixed into A's.
        a.mav.mission_count_send(1, 1, 3, MISSION)
        a.recv("MISSION_REQUEST_INT")
        b.mav.mission_count_send(1, 1, 2, MISSION)
        nack = b.recv("MISSION_ACK", cond=lambda m: m.target_system == 251)
        assert nack.type == M.MAV_MISSION_DENIED
        home = Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)
        assert a.upload([home, Item(M.MAV_CMD_NAV_TAKEOFF, alt=5)]) == M.MAV_MISSION_ACCEPTED
        a.close()
        b.close()
