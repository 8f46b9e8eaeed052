"""Periodic telemetry of the simulated vehicle: which messages, how often, and their content.

Rates are in simulated time, as ArduPilot schedules them (so at speed-up 20 a 4 Hz stream arrives
80 times a wall-clock second). Ground stations change them with SET_MESSAGE_INTERVAL or the legacy
REQUEST_DATA_STREAM, as with ArduPilot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.fence import BREACH_NONE
from simulators.vehicle.model import Vehicle
from simulators.vehicle.modes import MAV_TYPE

M = mavlink2

# Default rates, Hz of simulated time (0 = only on request).
DEFAULT_RATES: dict[int, float] = {
    M.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    M.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    M.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    M.MAVLINK_MSG_ID_ATTITUDE: 4.0,
    M.MAVLINK_MSG_ID_VFR_HUD: 4.0,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: 1.0,
    M.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    M.MAVLINK_MSG_ID_FENCE_STATUS: 1.0,
    M.MAVLINK_MSG_ID_HOME_POSITION: 0.0,
    M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: 0.0,
}

# REQUEST_DATA_STREAM groups (ArduPilot's SRx_ parameters) → messages.
DATA_STREAMS: dict[int, tuple[int, ...]] = {
    M.MAV_DATA_STREAM_EXTENDED_STATUS: (
        M.MAVLINK_MSG_ID_SYS_STATUS,
        M.MAVLINK_MSG_ID_GPS_RAW_INT,
        M.MAVLINK_MSG_ID_MISSION_CURRENT,
        M.MAVLINK_MSG_ID_FENCE_STATUS,
        M.MAVLINK_MSG_ID_BATTERY_STATUS,
        M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
        M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
        M.MAVLINK_MSG_ID_SYSTEM_TIME,
    ),
    M.MAV_DATA_STREAM_POSITION: (M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    M.MAV_DATA_STREAM_EXTRA1: (M.MAVLINK_MSG_ID_ATTITUDE,),
    M.MAV_DATA_STREAM_EXTRA2: (M.MAVLINK_MSG_ID_VFR_HUD,),
}

_SENSORS = (
    M.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | M.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | M.MAV_SYS_STATUS_SENSOR_3D_MAG
    | M.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | M.MAV_SYS_STATUS_SENSOR_GPS
    | M.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
    | M.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
    | M.MAV_SYS_STATUS_SENSOR_YAW_POSITION
    | M.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
    | M.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
    | M.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | M.MAV_SYS_STATUS_AHRS
    | M.MAV_SYS_STATUS_SENSOR_BATTERY
    | M.MAV_SYS_STATUS_PREARM_CHECK
)

_EKF_GOOD = (
    M.EKF_ATTITUDE
    | M.EKF_VELOCITY_HORIZ
    | M.EKF_VELOCITY_VERT
    | M.EKF_POS_HORIZ_REL
    | M.EKF_POS_HORIZ_ABS
    | M.EKF_POS_VERT_ABS
    | M.EKF_PRED_POS_HORIZ_REL
    | M.EKF_PRED_POS_HORIZ_ABS
)
_EKF_NO_GPS = M.EKF_ATTITUDE | M.EKF_VELOCITY_VERT | M.EKF_POS_VERT_ABS

CAPABILITIES = (
    M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)
# Reported as ArduCopter / ArduRover 4.5.7 (official), the behaviour this simulator follows.
FLIGHT_SW_VERSION = (4 << 24) | (5 << 16) | (7 << 8) | 255


def heartbeat(v: Vehicle) -> Any:
    base = M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | M.MAV_MODE_FLAG_STABILIZE_ENABLED
    if v.armed:
        base |= M.MAV_MODE_FLAG_SAFETY_ARMED
    if v.mode in ("AUTO", "GUIDED", "RTL", "SMART_RTL", "LAND"):
        base |= M.MAV_MODE_FLAG_GUIDED_ENABLED
    if v.mode == "AUTO":
        base |= M.MAV_MODE_FLAG_AUTO_ENABLED
    if v.mode in ("STABILIZE", "MANUAL"):
        base |= M.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
    if v.failsafe_active and v.armed:
        status = M.MAV_STATE_CRITICAL
    elif v.armed:
        status = M.MAV_STATE_ACTIVE
    elif v.time_s < 1.0:
        status = M.MAV_STATE_BOOT
    else:
        status = M.MAV_STATE_STANDBY
    return M.MAVLink_heartbeat_message(
        MAV_TYPE[v.kind], M.MAV_AUTOPILOT_ARDUPILOTMEGA, base, v.custom_mode, status, 3
    )


def sys_status(v: Vehicle) -> Any:
    enabled = _SENSORS
    health = _SENSORS
    present = _SENSORS
    if not v.gps_fix:
        health &= ~M.MAV_SYS_STATUS_SENSOR_GPS
    if not v.ekf_ok:
        health &= ~M.MAV_SYS_STATUS_AHRS
    if not v.armed and v.prearm_problems():
        health &= ~M.MAV_SYS_STATUS_PREARM_CHECK
    # As ArduPilot: the fence is "healthy" unless enabled and breached, even when absent.
    health |= M.MAV_SYS_STATUS_GEOFENCE
    if v.fence_items or v.fence_enabled:
        present |= M.MAV_SYS_STATUS_GEOFENCE
        if v.fence_enabled:
            enabled |= M.MAV_SYS_STATUS_GEOFENCE
            if v.breach_type != BREACH_NONE:
                health &= ~M.MAV_SYS_STATUS_GEOFENCE
    if v.batt_failsafe:
        health &= ~M.MAV_SYS_STATUS_SENSOR_BATTERY
    if v.motor_failed:
        health &= ~M.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    return M.MAVLink_sys_status_message(
        present,
        enabled,
        health,
        150,
        round(v.voltage * 1000),
        round(v.current_a * 100),
        v.battery_remaining_pct,
        0,
        0,
        0,
        0,
        0,
        0,
    )


def system_time(v: Vehicle) -> Any:
    return M.MAVLink_system_time_message(v.time_unix_usec, v.time_boot_ms)


def gps_raw_int(v: Vehicle) -> Any:
    b = v.body
    if v.gps_fix:
        lat, lon = v.estimated_latlon()
        fix, sats, eph, epv = M.GPS_FIX_TYPE_3D_FIX, 12, 80, 120
    else:
        lat = lon = 0.0
        fix, sats, eph, epv = M.GPS_FIX_TYPE_NO_FIX, 0, 9999, 9999
    cog = round((math.degrees(math.atan2(b.ve, b.vn)) % 360.0) * 100) if b.ground_speed > 0.2 else 0
    return M.MAVLink_gps_raw_int_message(
        v.time_unix_usec,
        fix,
        round(lat * 1e7),
        round(lon * 1e7),
        round((v.ground_amsl_m + b.u) * 1000) if v.gps_fix else 0,
        eph,
        epv,
        round(b.ground_speed * 100),
        cog % 36000,
        sats,
    )


def global_position_int(v: Vehicle) -> Any:
    b = v.body
    lat, lon = v.estimated_latlon()
    amsl = v.ground_amsl_m + v.est_u
    return M.MAVLink_global_position_int_message(
        v.time_boot_ms,
        round(lat * 1e7),
        round(lon * 1e7),
        round(amsl * 1000),
        round((amsl - v.home_alt_amsl_m) * 1000),
        round(b.vn * 100),
        round(b.ve * 100),
        round(-b.vu * 100),
        round(b.yaw_deg * 100) % 36000,
    )


def attitude(v: Vehicle) -> Any:
    b = v.body
    yaw = math.radians(b.yaw_deg)
    if yaw > math.pi:
        yaw -= 2 * math.pi
    return M.MAVLink_attitude_message(
        v.time_boot_ms,
        math.radians(b.roll_deg),
        math.radians(b.pitch_deg),
        yaw,
        0.0,
        0.0,
        math.radians(b.yaw_rate_dps),
    )


def vfr_hud(v: Vehicle) -> Any:
    b = v.body
    wn, we = v._wind()
    air = math.hypot(b.vn - wn, b.ve - we)
    if v.is_copter:
        throttle = 0 if not v.armed else (10 if v.landed else 40 + round(min(30.0, b.vu * 5)))
    else:
        throttle = round(min(100.0, b.ground_speed * 20)) if v.armed else 0
    return M.MAVLink_vfr_hud_message(
        air,
        b.ground_speed,
        round(b.yaw_deg) % 360,
        max(0, min(100, throttle)),
        v.ground_amsl_m + v.est_u,
        b.vu,
    )


def battery_status(v: Vehicle) -> Any:
    cells = [round(v.voltage * 1000)] + [65535] * 9
    state = M.MAV_BATTERY_CHARGE_STATE_OK
    if v.batt_failsafe:
        state = M.MAV_BATTERY_CHARGE_STATE_LOW
    remaining_s = 0
    if v.current_a > 1.0:
        left = max(0.0, v.params["BATT_CAPACITY"] - v.consumed_mah)
        remaining_s = round(left / v.current_a * 3.6)
    return M.MAVLink_battery_status_message(
        0,
        M.MAV_BATTERY_FUNCTION_ALL,
        M.MAV_BATTERY_TYPE_LIPO,
        32767,
        cells,
        round(v.current_a * 100),
        round(v.consumed_mah),
        round(v.consumed_mah * v.voltage * 36 / 1000),
        v.battery_remaining_pct,
        remaining_s,
        state,
    )


def ekf_status_report(v: Vehicle) -> Any:
    if v.ekf_ok:
        flags, var = _EKF_GOOD, 0.05
    elif v.time_s < 3.0:
        flags, var = M.EKF_ATTITUDE, 0.9
    else:
        flags, var = _EKF_NO_GPS, 1.2
    if not v.gps_fix and v.time_s > 3.0:
        flags |= M.EKF_GPS_GLITCHING if v.ekf_ok else 0
    return M.MAVLink_ekf_status_report_message(flags, var, var, 0.05, 0.03, 0.0, 0.0)


def extended_sys_state(v: Vehicle) -> Any:
    return M.MAVLink_extended_sys_state_message(M.MAV_VTOL_STATE_UNDEFINED, v.landed_state)


def autopilot_version(v: Vehicle, sysid: int) -> Any:
    return M.MAVLink_autopilot_version_message(
        CAPABILITIES,
        FLIGHT_SW_VERSION,
        0,
        0,
        0,
        [0] * 8,
        [0] * 8,
        [0] * 8,
        0x1209,
        0x5741,
        sysid,
    )


BUILDERS: dict[int, Callable[[Vehicle], Any]] = {
    M.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    M.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    M.MAVLINK_MSG_ID_SYSTEM_TIME: system_time,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    M.MAVLINK_MSG_ID_ATTITUDE: attitude,
    M.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: ekf_status_report,
    M.MAVLINK_MSG_ID_MISSION_CURRENT: Vehicle.mission_current_message,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: extended_sys_state,
    M.MAVLINK_MSG_ID_FENCE_STATUS: Vehicle.fence_status_message,
    M.MAVLINK_MSG_ID_HOME_POSITION: Vehicle.home_position_message,
}


class StreamScheduler:
    """Which periodic messages are due at a simulated time."""

    def __init__(self) -> None:
        self.intervals: dict[int, float] = {
            mid: 1.0 / hz for mid, hz in DEFAULT_RATES.items() if hz > 0
        }
        self._next: dict[int, float] = dict.fromkeys(self.intervals, 0.0)
        self._earliest = 0.0

    def set_interval(self, msg_id: int, interval_us: float) -> bool:
        """SET_MESSAGE_INTERVAL semantics: -1 off, 0 default, otherwise microseconds."""
        if msg_id not in BUILDERS or not math.isfinite(interval_us):
            return False
        if interval_us < 0:
            self.intervals.pop(msg_id, None)
            self._next.pop(msg_id, None)
            return True
        if interval_us == 0:
            hz = DEFAULT_RATES.get(msg_id, 0.0)
            if hz <= 0:
                self.intervals.pop(msg_id, None)
                self._next.pop(msg_id, None)
                return True
            interval = 1.0 / hz
        else:
            interval = max(interval_us / 1e6, 0.02)
        self.intervals[msg_id] = interval
        self._next.setdefault(msg_id, 0.0)
        self._earliest = 0.0
        return True

    def interval_us(self, msg_id: int) -> int:
        interval = self.intervals.get(msg_id)
        return -1 if interval is None else round(interval * 1e6)

    def set_stream(self, stream_id: int, rate_hz: int, start: bool) -> None:
        groups = (
            DATA_STREAMS
            if stream_id == M.MAV_DATA_STREAM_ALL
            else {stream_id: DATA_STREAMS.get(stream_id, ())}
        )
        for msgs in groups.values():
            for mid in msgs:
                if start and rate_hz > 0:
                    self.set_interval(mid, 1e6 / rate_hz)
                else:
                    self.set_interval(mid, -1)

    def due(self, now: float) -> list[int]:
        if now < self._earliest:
            return []
        out = []
        for mid, nxt in self._next.items():
            if now >= nxt:
                out.append(mid)
                interval = self.intervals[mid]
                # Keep the phase; after a long pause do not send a burst to catch up.
                nxt += interval
                self._next[mid] = nxt if nxt > now else now + interval
        self._earliest = min(self._next.values(), default=float("inf"))
        return out
