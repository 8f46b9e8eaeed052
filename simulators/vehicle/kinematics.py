"""Point-mass kinematics of a multicopter and of a ground rover, with ArduPilot-like limits.

The copter follows a desired velocity vector under horizontal and vertical acceleration limits
(WPNAV_ACCEL, WPNAV_ACCEL_Z) and a yaw-rate limit; wind pushes it through turbulence that its
position controller keeps correcting, and tilts it into the wind. The rover follows a desired
heading and speed under a turn-rate limit (turning radius and steering rate) and an acceleration
limit. Everything is plain floats: the fixed-step loop runs a thousand steps a second per vehicle
at speed-up 20.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.vehicle.geo import wrap_180, wrap_360

G = 9.80665
# Lean angle per m/s of airspeed needed against drag (about 15 degrees at 10 m/s).
_DRAG_TILT = 0.027


@dataclass
class BodyState:
    """True state: metres north/east/up of the origin (ground = 0), m/s, degrees."""

    n: float = 0.0
    e: float = 0.0
    u: float = 0.0
    vn: float = 0.0
    ve: float = 0.0
    vu: float = 0.0
    yaw_deg: float = 0.0
    yaw_rate_dps: float = 0.0
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    on_ground: bool = True

    @property
    def ground_speed(self) -> float:
        return math.hypot(self.vn, self.ve)


def _limit_vector(dx: float, dy: float, max_len: float) -> tuple[float, float]:
    length = math.hypot(dx, dy)
    if length > max_len > 0.0:
        k = max_len / length
        return dx * k, dy * k
    return dx, dy


def _slew_angle(current: float, target: float, max_step: float) -> float:
    err = wrap_180(target - current)
    if err > max_step:
        err = max_step
    elif err < -max_step:
        err = -max_step
    return wrap_360(current + err)


def step_copter(
    s: BodyState,
    dt: float,
    want_vn: float,
    want_ve: float,
    want_vu: float,
    want_yaw: float | None,
    accel_h: float,
    accel_z: float,
    yaw_rate_max_dps: float,
    wind_n: float,
    wind_e: float,
    gust_n: float,
    gust_e: float,
    thrust: bool,
) -> None:
    """Advance the copter by dt. Without thrust (disarmed in the air) it falls."""
    if thrust:
        dvn, dve = _limit_vector(want_vn - s.vn, want_ve - s.ve, accel_h * dt)
        dvu = max(-accel_z * dt, min(accel_z * dt, want_vu - s.vu))
    else:
        dvn, dve = -s.vn * min(1.0, 0.5 * dt), -s.ve * min(1.0, 0.5 * dt)
        dvu = -G * dt
    an, ae = dvn / dt, dve / dt
    s.vn += dvn
    s.ve += dve
    s.vu += dvu
    if s.on_ground and s.vu <= 0.0:
        # Sitting on the ground: no sliding, no sinking.
        s.vn = s.ve = s.vu = 0.0
        an = ae = 0.0
    # Turbulence displaces the vehicle; the position controller pulls it back next steps.
    s.n += (s.vn + gust_n) * dt
    s.e += (s.ve + gust_e) * dt
    s.u += s.vu * dt
    if s.u <= 0.0:
        s.u = 0.0
        if s.vu < 0.0:
            s.vu = 0.0
        s.on_ground = want_vu <= 0.0 or not thrust
    elif s.u > 0.05:
        s.on_ground = False
    if s.on_ground:
        s.roll_deg = s.pitch_deg = 0.0
        s.yaw_rate_dps = 0.0
        return
    # Tilt: the thrust vector leans to accelerate and to hold against drag of the airspeed.
    air_n, air_e = s.vn - wind_n, s.ve - wind_e
    tilt_n = (an + _DRAG_TILT * G * air_n) / G
    tilt_e = (ae + _DRAG_TILT * G * air_e) / G
    yaw = math.radians(s.yaw_deg)
    fwd = tilt_n * math.cos(yaw) + tilt_e * math.sin(yaw)
    right = -tilt_n * math.sin(yaw) + tilt_e * math.cos(yaw)
    s.pitch_deg = -math.degrees(math.atan(fwd))
    s.roll_deg = math.degrees(math.atan(right))
    if want_yaw is not None:
        before = s.yaw_deg
        s.yaw_deg = _slew_angle(s.yaw_deg, want_yaw, yaw_rate_max_dps * dt)
        s.yaw_rate_dps = wrap_180(s.yaw_deg - before) / dt
    else:
        s.yaw_rate_dps = 0.0


def step_rover(
    s: BodyState,
    dt: float,
    want_speed: float,
    want_heading: float | None,
    accel: float,
    decel: float,
    turn_radius_m: float,
    steer_rate_max_dps: float,
    powered: bool,
) -> None:
    """Advance the rover by dt: heading first (turn-rate limited), then speed along it."""
    speed = math.hypot(s.vn, s.ve)
    if not powered:
        want_speed = 0.0
    if want_heading is not None and powered:
        # A car-like rover turns no tighter than its radius; at walking pace it may pivot slowly.
        rate = steer_rate_max_dps
        if turn_radius_m > 0.0 and speed > 0.1:
            rate = min(rate, math.degrees(speed / turn_radius_m))
        rate = max(rate, 20.0)
        before = s.yaw_deg
        s.yaw_deg = _slew_angle(s.yaw_deg, want_heading, rate * dt)
        s.yaw_rate_dps = wrap_180(s.yaw_deg - before) / dt
    else:
        s.yaw_rate_dps = 0.0
    dv = want_speed - speed
    limit = (accel if dv > 0 else (decel or accel)) * dt
    speed += max(-limit, min(limit, dv))
    speed = max(0.0, speed)
    yaw = math.radians(s.yaw_deg)
    s.vn, s.ve = speed * math.cos(yaw), speed * math.sin(yaw)
    s.n += s.vn * dt
    s.e += s.ve * dt
    s.u = 0.0
    s.vu = 0.0
    s.on_ground = True
    s.roll_deg = 0.0
    s.pitch_deg = 0.0


def approach_speed(dist: float, cruise: float, accel: float, end_speed: float = 0.0) -> float:
    """Speed to fly at `dist` metres before a point to arrive there at `end_speed`."""
    if dist <= 0.0:
        return end_speed
    # 0.8 × accel leaves margin for the lag of the velocity loop; the linear term stops creep.
    brake = math.sqrt(end_speed * end_speed + 2.0 * 0.8 * accel * dist)
    if end_speed <= 0.0:
        brake = min(brake, 1.5 * dist)
    return min(cruise, brake)
