"""Guidance of the simulated vehicle: what velocity, climb and heading each mode asks for.

`fly_copter` and `drive_rover` run once per step: they turn the navigation command being flown
(take off, go to a point, hold, land, return to launch, wait) into the desired velocity and
heading, complete the command when its condition is met, and hand the result to the kinematics
(`simulators.vehicle.kinematics`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from simulators.vehicle.geo import bearing_deg, wrap_180
from simulators.vehicle.kinematics import approach_speed, step_copter, step_rover

if TYPE_CHECKING:
    from simulators.vehicle.model import Vehicle, _Nav


def fly_copter(v: Vehicle, dt: float) -> None:
    p = v.params
    b = v.body
    want_vn = want_ve = want_vu = 0.0
    want_yaw: float | None = None
    thrust = v.armed
    nav = v.nav
    hold_here = v.paused and v.mode in ("AUTO", "GUIDED", "RTL")
    if not v.armed:
        pass
    elif v.motor_failed:
        # One motor out: it keeps enough control to come down, not to hold station.
        want_vu = -2.5 if b.u > 2.0 else -0.5
    elif hold_here:
        pn, pe = v._pause_point
        want_vn, want_ve = _toward(v, pn, pe, 0.0)
    elif nav is None:
        if not v.landed and v.mode in ("STABILIZE",):
            want_vu = -3.0  # no pilot: throttle stick at the bottom
    elif nav.kind in ("hold", "goto"):
        want_vn, want_ve, want_vu, want_yaw = _goto_step(v, nav)
    elif nav.kind == "takeoff":
        if not b.on_ground:
            want_vn, want_ve = _toward(v, nav.n, nav.e, 0.0)
        want_vu = v._vertical_speed(nav.u - b.u)
        if b.u >= nav.u - 0.3:
            v._nav_complete()
    elif nav.kind == "land":
        want_vn, want_ve, want_vu = _land_step(v, nav)
    elif nav.kind == "rtl":
        want_vn, want_ve, want_vu, want_yaw = _rtl_step(v, nav)
    elif nav.kind == "delay":
        if nav.arrived_at is None:
            nav.arrived_at = v.time_s
        if v.time_s - nav.arrived_at >= nav.hold_s:
            v._nav_complete()
    wn, we = v._wind_ne
    step_copter(
        b,
        dt,
        want_vn,
        want_ve,
        want_vu,
        want_yaw,
        p["WPNAV_ACCEL"] / 100.0,
        p["WPNAV_ACCEL_Z"] / 100.0 * 2.0,
        p["ATC_RATE_Y_MAX"],
        wn,
        we,
        v._gust[0] if not b.on_ground else 0.0,
        v._gust[1] if not b.on_ground else 0.0,
        thrust,
    )


def _toward(
    v: Vehicle, tn: float, te: float, end_speed: float, speed: float | None = None
) -> tuple[float, float]:
    b = v.body
    dn, de = tn - b.n, te - b.e
    dist = math.hypot(dn, de)
    if dist < 1e-3:
        return 0.0, 0.0
    cruise = speed if speed is not None else v._cruise_speed()
    sp = approach_speed(dist, cruise, v._accel_h(), min(end_speed, cruise))
    return dn / dist * sp, de / dist * sp


def _goto_step(v: Vehicle, nav: _Nav) -> tuple[float, float, float, float | None]:
    b = v.body
    dn, de = nav.n - b.n, nav.e - b.e
    dist_h = math.hypot(dn, de)
    du = nav.u - b.u
    vn, ve = _toward(v, nav.n, nav.e, nav.end_speed, nav.speed)
    vu = v._vertical_speed(du)
    yaw = bearing_deg(dn, de) if dist_h > 2.0 and nav.kind == "goto" else None
    if (nav.kind == "goto" and not nav.forever) or (nav.forever and nav.seq is not None):
        if nav.arrived_at is None and math.sqrt(dist_h * dist_h + du * du) <= nav.radius:
            nav.arrived_at = v.time_s
            if nav.hold_s > 0 or nav.forever:
                # Waiting over the point: hold exactly there.
                nav.end_speed = 0.0
        arrived = nav.arrived_at
        if arrived is not None and not nav.forever and v.time_s - arrived >= nav.hold_s:
            v._nav_complete()
    return vn, ve, vu, yaw


def _land_step(v: Vehicle, nav: _Nav) -> tuple[float, float, float]:
    b = v.body
    p = v.params
    if nav.stage == "approach":
        vn, ve = _toward(v, nav.n, nav.e, 0.0)
        if math.hypot(nav.n - b.n, nav.e - b.e) < 1.0:
            nav.stage = ""
        return vn, ve, v._vertical_speed(nav.u - b.u)
    vn, ve = (0.0, 0.0) if not v.ekf_ok else _toward(v, nav.n, nav.e, 0.0)
    land_low = p["LAND_ALT_LOW"] / 100.0
    fast = p["LAND_SPEED_HIGH"] / 100.0 or p["WPNAV_SPEED_DN"] / 100.0
    slow = p["LAND_SPEED"] / 100.0
    vu = -fast if b.u > land_low else -slow
    if b.u > land_low:
        vu = -min(fast, max(slow, math.sqrt(2.0 * 1.0 * (b.u - land_low)) + slow))
    if v.landed and v.armed:
        v._touchdown()
    return vn, ve, vu


def _rtl_step(v: Vehicle, nav: _Nav) -> tuple[float, float, float, float | None]:
    b = v.body
    p = v.params
    speed = min(p["RTL_SPEED"] / 100.0, 50.0) if p["RTL_SPEED"] > 0 else None
    if nav.stage == "climb":
        vn, ve = _toward(v, nav.prev_n, nav.prev_e, 0.0)
        vu = v._vertical_speed(nav.u - b.u)
        if b.u >= nav.u - 0.5:
            nav.stage = "return"
        return vn, ve, vu, None
    if nav.stage == "return":
        dn, de = nav.n - b.n, nav.e - b.e
        vn, ve = _toward(v, nav.n, nav.e, 0.0, speed)
        vu = v._vertical_speed(nav.u - b.u)
        if math.hypot(dn, de) < 2.0 and b.ground_speed < 0.5:
            nav.stage = "loiter"
            nav.arrived_at = v.time_s
        yaw = bearing_deg(dn, de) if math.hypot(dn, de) > 5.0 else None
        return vn, ve, vu, yaw
    if nav.stage == "loiter":
        vn, ve = _toward(v, nav.n, nav.e, 0.0)
        vu = v._vertical_speed(nav.u - b.u)
        if v.time_s - (nav.arrived_at or 0.0) >= p["RTL_LOIT_TIME"] / 1000.0:
            final = p["RTL_ALT_FINAL"] / 100.0
            if final > 0:
                nav.stage = "final"
                nav.u = v._u_from_rel(final)
            else:
                nav.stage = "land"
        return vn, ve, vu, None
    if nav.stage == "final":
        vn, ve = _toward(v, nav.n, nav.e, 0.0)
        vu = v._vertical_speed(nav.u - b.u)
        if abs(nav.u - b.u) < 0.3 and v.mode == "AUTO" and nav.seq is not None:
            v._nav_complete()
        return vn, ve, vu, None
    vn, ve, vu = _land_step(v, nav)
    return vn, ve, vu, None


def drive_rover(v: Vehicle, dt: float) -> None:
    p = v.params
    b = v.body
    want_speed = 0.0
    want_heading: float | None = None
    nav = v.nav
    powered = v.armed and not v.motor_failed
    if powered and nav is not None and not v.paused and v.mode != "MANUAL":
        target = (nav.n, nav.e)
        if nav.kind == "rtl" and v.mode == "SMART_RTL" and v.breadcrumbs:
            target = v.breadcrumbs[-1]
        dn, de = target[0] - b.n, target[1] - b.e
        dist = math.hypot(dn, de)
        if nav.kind == "delay":
            if nav.arrived_at is None:
                nav.arrived_at = v.time_s
            if v.time_s - nav.arrived_at >= nav.hold_s:
                v._nav_complete()
        elif nav.kind == "hold":
            pass
        elif nav.arrived_at is None:
            want_heading = bearing_deg(dn, de)
            err = abs(wrap_180(want_heading - b.yaw_deg))
            cruise = nav.speed or v._cruise_speed()
            if nav.kind == "rtl" and p["RTL_SPEED"] > 0:
                cruise = min(p["RTL_SPEED"], 50.0)
            want_speed = approach_speed(dist, cruise, p["ATC_ACCEL_MAX"])
            # Slow down for sharp turns as the rover's speed controller does.
            want_speed *= max(0.2, math.cos(math.radians(min(err, 90.0))))
            passed = False
            if nav.kind == "goto" and nav.seq is not None:
                # Past the waypoint's perpendicular line counts as reached (ArduRover).
                ln, le = nav.n - nav.prev_n, nav.e - nav.prev_e
                passed = (ln * (b.n - nav.n) + le * (b.e - nav.e)) > 0 and (ln or le) != 0
            if dist <= nav.radius or passed:
                if nav.kind == "rtl" and v.mode == "SMART_RTL" and v.breadcrumbs:
                    v.breadcrumbs.pop()
                elif nav.kind == "rtl":
                    nav.arrived_at = v.time_s
                    v.text("info", "Reached destination")
                    if v.mode == "AUTO" and nav.seq is not None:
                        v._nav_complete()
                else:
                    nav.arrived_at = v.time_s
        arrived = nav.arrived_at
        done = arrived is not None and v.time_s - arrived >= nav.hold_s
        if nav is v.nav and nav.kind == "goto" and done and not nav.forever:
            v._nav_complete()
    step_rover(
        b,
        dt,
        want_speed,
        want_heading,
        p["ATC_ACCEL_MAX"],
        p["ATC_DECEL_MAX"],
        p["TURN_RADIUS"],
        p["ATC_STR_RAT_MAX"],
        powered,
    )
