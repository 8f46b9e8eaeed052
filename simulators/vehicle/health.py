"""Health of the simulated vehicle, checked every step: sensors (GPS fix, EKF, noise, gusts),
the navigation estimate, the battery, the failsafes (battery, EKF, ground station), the fence
and its action, and the automatic disarm on the ground.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle import fence as fence_mod
from simulators.vehicle.modes import NEEDS_POSITION

if TYPE_CHECKING:
    from simulators.vehicle.model import Vehicle

M = mavlink2
GPS_FIX_AFTER_S = 1.0
EKF_READY_AFTER_S = 3.0
GPS_PERIOD_S = 0.2
GUST_PERIOD_S = 0.1


def update_sensors(v: Vehicle, dt: float) -> None:
    p = v.params
    had_fix = v.gps_fix
    v.gps_fix = v.time_s >= GPS_FIX_AFTER_S and p["SIM_GPS_DISABLE"] == 0
    if had_fix and not v.gps_fix:
        v._gps_lost_at = v.time_s
        v.text("warning", "GPS 1: lost fix")
    elif v.gps_fix and not had_fix and v.time_s > GPS_FIX_AFTER_S + dt:
        v._gps_lost_at = None
        v.text("info", "GPS 1: detected fix")
    # The EKF keeps dead-reckoning for a second after the GPS goes; then position is bad.
    if v.gps_fix:
        v.ekf_ok = v.time_s >= EKF_READY_AFTER_S or v.ekf_ok
    elif v._gps_lost_at is None or v.time_s - v._gps_lost_at > 1.0:
        v.ekf_ok = False
    v._wind_ne = v._wind()
    gauss = v.rng.gauss
    # GPS noise: a first-order Gauss-Markov walk (tau 10 s) of SIM_GPS_NOISE metres sigma,
    # updated at the 5 Hz of a GPS receiver (as SITL's SIM_GPS_HZ).
    v._gps_timer += dt
    if v._gps_timer >= GPS_PERIOD_S - 1e-9:
        step = v._gps_timer
        v._gps_timer = 0.0
        sigma = p["SIM_GPS_NOISE"]
        tau = 10.0
        k = sigma * math.sqrt(2.0 * step / tau)
        noise = v._gps_noise
        for i in range(3):
            noise[i] += -noise[i] * step / tau + k * gauss(0.0, 1.0)
    # Gusts: a 2 s correlated random walk, 10 Hz.
    v._gust_timer += dt
    if v._gust_timer >= GUST_PERIOD_S - 1e-9:
        step = v._gust_timer
        v._gust_timer = 0.0
        turb = p["SIM_WIND_TURB"] + 0.1 * p["SIM_WIND_SPD"]
        if turb > 0 or v._gust[0] or v._gust[1]:
            k = turb * math.sqrt(step) * 0.3
            for i in range(2):
                v._gust[i] += -v._gust[i] * step / 2.0 + k * gauss(0.0, 1.0)


def update_estimate(v: Vehicle) -> None:
    b = v.body
    if v.gps_fix:
        v.est_n = b.n + v._gps_noise[0]
        v.est_e = b.e + v._gps_noise[1]
    # Altitude comes from the barometer, whether or not the GPS has a fix.
    v.est_u = b.u + 0.3 * v._gps_noise[2]


def update_battery(v: Vehicle, dt: float) -> None:
    b = v.body
    if v.armed and v.is_copter and not v.landed:
        air = math.hypot(b.vn - v._wind_ne[0], b.ve - v._wind_ne[1])
        v.current_a = 18.0 + 0.06 * air * air + 4.0 * max(0.0, b.vu)
    elif v.armed and v.is_copter:
        v.current_a = 4.0
    elif v.armed:
        v.current_a = 2.0 + 1.5 * b.ground_speed
    else:
        v.current_a = 0.6
    v.consumed_mah += v.current_a * dt / 3.6
    cap = max(1.0, v.params["BATT_CAPACITY"])
    soc = max(0.0, 1.0 - v.consumed_mah / cap)
    full = v.params["SIM_BATT_VOLTAGE"]
    # Four-cell LiPo: 4.2 V per cell full, 3.5 V empty, 20 milliohm of sag.
    v.voltage = full * (3.5 + 0.7 * soc) / 4.2 - 0.02 * v.current_a


def check_failsafes(v: Vehicle, real_time_s: float) -> None:
    p = v.params
    if not v.armed:
        return
    # Battery.
    low_v = p["BATT_LOW_VOLT"]
    low_mah = p["BATT_LOW_MAH"]
    remaining_mah = p["BATT_CAPACITY"] - v.consumed_mah
    low = (low_v > 0 and v.voltage < low_v) or (low_mah > 0 and remaining_mah < low_mah)
    if low and not v.batt_failsafe:
        if v._batt_low_since is None:
            v._batt_low_since = v.time_s
        if v.time_s - v._batt_low_since >= p["BATT_LOW_TIMER"]:
            v.batt_failsafe = True
            v.text(
                "critical",
                f"Battery 1 is low {v.voltage:.2f}V used {v.consumed_mah:.0f} mAh",
            )
            battery_action(v, int(p["BATT_FS_LOW_ACT"]))
    elif not low:
        v._batt_low_since = None
    # EKF (position lost with the GPS).
    if not v.ekf_ok and not v.ekf_failsafe and v.mode in NEEDS_POSITION:
        v.ekf_failsafe = True
        if p["FS_EKF_ACTION"] > 0:
            v._failsafe_mode("LAND" if v.is_copter else "HOLD", "EKF Failsafe")
    elif v.ekf_ok and v.ekf_failsafe:
        v.ekf_failsafe = False
        v.text("info", "EKF Failsafe Cleared")
    # Ground station heartbeats: timed out in both simulated and wall-clock seconds, so a
    # ground station that sends 1 Hz heartbeats does not trip it at a high speed-up.
    if p["FS_GCS_ENABLE"] > 0 and v.last_gcs_heartbeat and not v.gcs_failsafe:
        sim_t, real_t = v.last_gcs_heartbeat
        timeout = p["FS_GCS_TIMEOUT"]
        if v.time_s - sim_t > timeout and real_time_s - real_t > timeout:
            v.gcs_failsafe = True
            if v.is_copter and v.landed:
                v._disarm()
            else:
                v._failsafe_mode("RTL", "GCS Failsafe")


def battery_action(v: Vehicle, action: int) -> None:
    if v.is_copter and v.landed:
        v._disarm()
        return
    if v.is_copter:
        name = {1: "LAND", 2: "RTL", 3: "RTL", 4: "LAND"}.get(action)
    else:
        name = {1: "RTL", 2: "HOLD", 3: "SMART_RTL", 4: "SMART_RTL"}.get(action)
    if name:
        v._failsafe_mode(name, "Battery Failsafe")


def check_fence(v: Vehicle) -> None:
    if not v.fence_enabled or (v.is_copter and v.landed):
        if v.breach_type != fence_mod.BREACH_NONE and not v.fence_enabled:
            v.breach_type = fence_mod.BREACH_NONE
            v.emit(v.fence_status_message())
        return
    breach = v._breach_now()
    if breach == v.breach_type:
        return
    was = v.breach_type
    v.breach_type = breach
    if breach != fence_mod.BREACH_NONE and was == fence_mod.BREACH_NONE:
        v.breach_count += 1
        v.breach_time_ms = v.time_boot_ms
        kind = {
            fence_mod.BREACH_MAXALT: "Max Alt",
            fence_mod.BREACH_MINALT: "Min Alt",
            fence_mod.BREACH_BOUNDARY: "Boundary",
        }[breach]
        v.text("critical", f"Fence Breach: {kind}")
        fence_action(v, int(v.params["FENCE_ACTION"]))
    v.emit(v.fence_status_message())


def fence_action(v: Vehicle, action: int) -> None:
    if action == 0:
        return
    if v.is_copter:
        if v.mode in ("LAND",) or v.motor_failed:
            return
        name = {1: "RTL", 2: "LAND", 3: "RTL", 4: "BRAKE", 5: "LAND"}.get(action, "RTL")
        if v.mode == "RTL" and name == "RTL":
            return
    else:
        name = {1: "RTL", 2: "HOLD", 3: "SMART_RTL", 4: "SMART_RTL"}.get(action, "HOLD")
    v._failsafe_mode(name, "Fence Breach")


def auto_disarm(v: Vehicle) -> None:
    if not v.armed or not v.is_copter:
        return
    if not v.landed:
        v.landed_since = None
        return
    if v.landed_since is None:
        v.landed_since = v.time_s
        # Touchdown in LAND or RTL (also as mission items) ends the flight at once.
        if v.nav is not None and v.nav.kind in ("land", "rtl"):
            return
    taking_off = v.nav is not None and v.nav.kind == "takeoff"
    if not taking_off and v.time_s - v.landed_since >= v.params["DISARM_DELAY"] > 0:
        v._disarm()
