"""The simulated vehicle: modes, arming, mission execution, fence, battery, failsafes, camera.

`Vehicle` is transport-free: the server feeds it commands and calls `step(dt)` at a fixed rate of
simulated time; the vehicle reports what an autopilot would say unprompted (status texts, mission
progress, camera feedback, fence status) through the `emit` callback as pymavlink messages. Given
the same seed and the same inputs at the same steps it produces the same flight, bit for bit.

Behaviour follows ArduCopter / ArduRover 4.x where the project relies on it; where it is
simplified, `docs/simulator.md` says how.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle import fence as fence_mod
from simulators.vehicle.geo import LocalPlane, bearing_deg, wrap_180
from simulators.vehicle.guidance import drive_rover, fly_copter
from simulators.vehicle.health import (
    auto_disarm,
    check_failsafes,
    check_fence,
    update_battery,
    update_estimate,
    update_sensors,
)
from simulators.vehicle.items import (
    AMSL_FRAMES,
    FENCE,
    MAX_ALT_M,
    MISSION,
    NAV_COMMANDS,
    RALLY,
    StoredItem,
)
from simulators.vehicle.kinematics import BodyState, approach_speed
from simulators.vehicle.modes import (
    COPTER_ARMABLE,
    NEEDS_POSITION,
    ROVER_ARMABLE,
    mode_name,
    modes_for,
)
from simulators.vehicle.params import ParamStore

M = mavlink2
MAX_SPEED_M_S = 50.0  # no multicopter or rover of ours goes faster
FORCE_ARM_MAGIC = 21196
SEVERITY = {
    "emergency": M.MAV_SEVERITY_EMERGENCY,
    "critical": M.MAV_SEVERITY_CRITICAL,
    "error": M.MAV_SEVERITY_ERROR,
    "warning": M.MAV_SEVERITY_WARNING,
    "notice": M.MAV_SEVERITY_NOTICE,
    "info": M.MAV_SEVERITY_INFO,
}
_CMD_SHORT = {
    M.MAV_CMD_NAV_WAYPOINT: "WP",
    M.MAV_CMD_NAV_TAKEOFF: "Takeoff",
    M.MAV_CMD_NAV_LAND: "Land",
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH: "RTL",
    M.MAV_CMD_NAV_LOITER_TIME: "LoitTime",
    M.MAV_CMD_NAV_LOITER_UNLIM: "LoitUnlim",
    M.MAV_CMD_NAV_LOITER_TURNS: "LoitTurns",
    M.MAV_CMD_NAV_DELAY: "Delay",
    M.MAV_CMD_NAV_SPLINE_WAYPOINT: "SplineWP",
}


@dataclass(frozen=True)
class Position:
    """Where the vehicle is (true position, not the noisy GPS one)."""

    lat: float
    lon: float
    alt_amsl_m: float
    alt_agl_m: float


@dataclass
class Capture:
    """One camera capture: the pose reported in CAMERA_FEEDBACK."""

    img_idx: int
    time_usec: int
    lat: float
    lon: float
    alt_amsl_m: float
    alt_agl_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float


@dataclass
class _Nav:
    """The navigation command being flown (mission item, RTL stage, guided target...)."""

    kind: str  # "goto", "takeoff", "land", "hold", "rtl", "delay"
    n: float = 0.0
    e: float = 0.0
    u: float = 0.0
    radius: float = 2.0
    hold_s: float = 0.0
    end_speed: float = 0.0
    speed: float | None = None
    arrived_at: float | None = None
    seq: int | None = None
    stage: str = ""
    prev_n: float = 0.0
    prev_e: float = 0.0
    forever: bool = False


class Vehicle:
    """A simulated ArduCopter or ArduRover."""

    def __init__(
        self,
        kind: str,
        home: tuple[float, float, float],
        params: ParamStore,
        seed: int = 0,
        epoch_unix_s: float = 1.7e9,
        emit: Callable[[Any], None] | None = None,
    ) -> None:
        self.kind = kind
        self.is_copter = kind == "copter"
        self.params = params
        self.rng = random.Random(seed)
        self.epoch_unix_s = epoch_unix_s
        self.wall_clock: Callable[[], float] | None = None
        self.emit: Callable[[Any], None] = emit or (lambda _msg: None)
        lat, lon, alt = home
        self.plane = LocalPlane(lat, lon)
        self.ground_amsl_m = float(alt)
        self.home_ne = (0.0, 0.0)
        self.home_alt_amsl_m = float(alt)
        self.body = BodyState()
        self.time_s = 0.0
        self.mode = "STABILIZE" if self.is_copter else "MANUAL"
        self.armed = False
        self.armed_at = 0.0
        self.landed_since: float | None = 0.0
        # Mission, fence and rally lists (item 0 of the mission is home).
        self.mission: list[StoredItem] = []
        self.fence_items: list[StoredItem] = []
        self.rally_items: list[StoredItem] = []
        self.fence_geom = fence_mod.FenceGeometry()
        self.current_seq = 0
        self.mission_state = M.MISSION_STATE_NO_MISSION
        self._jump_counts: dict[int, int] = {}
        self.nav: _Nav | None = None
        self.paused = False
        self._pause_point: tuple[float, float] = (0.0, 0.0)
        self.speed_override: float | None = None
        # Camera.
        self.trigg_dist = 0.0
        self._last_trigger_ne: tuple[float, float] | None = None
        self.captures: list[Capture] = []
        # Fence.
        self.breach_type = fence_mod.BREACH_NONE
        self.breach_count = 0
        self.breach_time_ms = 0
        self._fence_next_check = 0.0
        # Battery.
        self.consumed_mah = 0.0
        self.current_a = 0.0
        self.voltage = params["SIM_BATT_VOLTAGE"]
        self._batt_low_since: float | None = None
        self.batt_failsafe = False
        # Sensors and failsafes.
        self.gps_fix = False
        self._gps_lost_at: float | None = None
        self.ekf_ok = False
        self.ekf_failsafe = False
        self.motor_failed = False
        self.gcs_failsafe = False
        self.last_gcs_heartbeat: tuple[float, float] | None = None
        self._gps_noise = [0.0, 0.0, 0.0]
        self._gust = [0.0, 0.0]
        self._gps_timer = 0.0
        self._gust_timer = 0.0
        self._wind_ne = (0.0, 0.0)
        self.est_n = self.est_e = 0.0
        self.est_u = 0.0
        self.breadcrumbs: list[tuple[float, float]] = []
        self.heartbeat_now = False

    # ------------------------------------------------------------------ reporting helpers

    def text(self, severity: str, text: str) -> None:
        self.emit(M.MAVLink_statustext_message(SEVERITY[severity], text.encode()[:50]))

    @property
    def time_boot_ms(self) -> int:
        return int(self.time_s * 1000.0)

    @property
    def time_unix_usec(self) -> int:
        """UTC of the vehicle's GPS clock: the epoch plus simulated time (as SITL's), or the
        wall clock when `wall_clock` is set (photos then carry the real time they were taken)."""
        if self.wall_clock is not None:
            return int(self.wall_clock() * 1e6)
        return int((self.epoch_unix_s + self.time_s) * 1e6)

    @property
    def custom_mode(self) -> int:
        return modes_for(self.kind)[self.mode]

    @property
    def position(self) -> Position:
        lat, lon = self.plane.to_latlon(self.body.n, self.body.e)
        amsl = self.ground_amsl_m + self.body.u
        return Position(lat, lon, amsl, amsl - self.home_alt_amsl_m)

    def estimated_latlon(self) -> tuple[float, float]:
        return self.plane.to_latlon(self.est_n, self.est_e)

    @property
    def alt_rel_m(self) -> float:
        """Altitude above home, the "relative" altitude of MAVLink."""
        return self.ground_amsl_m + self.body.u - self.home_alt_amsl_m

    @property
    def landed(self) -> bool:
        return self.body.on_ground and (not self.is_copter or self.body.u <= 0.01)

    @property
    def landed_state(self) -> int:
        if not self.is_copter:
            return M.MAV_LANDED_STATE_ON_GROUND
        if self.landed:
            return M.MAV_LANDED_STATE_ON_GROUND
        if self.nav is not None and self.nav.kind == "takeoff":
            return M.MAV_LANDED_STATE_TAKEOFF
        if self.nav is not None and self.nav.kind == "land":
            return M.MAV_LANDED_STATE_LANDING
        return M.MAV_LANDED_STATE_IN_AIR

    @property
    def battery_remaining_pct(self) -> int:
        cap = max(1.0, self.params["BATT_CAPACITY"])
        return max(0, min(100, round(100.0 * (1.0 - self.consumed_mah / cap))))

    @property
    def failsafe_active(self) -> bool:
        return (
            self.batt_failsafe
            or self.ekf_failsafe
            or self.gcs_failsafe
            or self.motor_failed
            or self.breach_type != fence_mod.BREACH_NONE
        )

    @property
    def fence_enabled(self) -> bool:
        return self.params["FENCE_ENABLE"] >= 1

    def home_position_message(self) -> Any:
        lat, lon = self.plane.to_latlon(*self.home_ne)
        return M.MAVLink_home_position_message(
            round(lat * 1e7),
            round(lon * 1e7),
            round(self.home_alt_amsl_m * 1000),
            self.home_ne[0],
            self.home_ne[1],
            0.0,
            [1.0, 0.0, 0.0, 0.0],
            0.0,
            0.0,
            0.0,
            self.time_unix_usec,
        )

    def mission_current_message(self) -> Any:
        total = max(0, len(self.mission) - 1)
        return M.MAVLink_mission_current_message(
            self.current_seq,
            total,
            self.mission_state,
            1 if self.mode == "AUTO" else 0,
        )

    def fence_status_message(self) -> Any:
        # ArduPilot reports VEL_LIMIT only while its avoidance limits speed; we have none.
        mitigation = M.FENCE_MITIGATE_NONE
        return M.MAVLink_fence_status_message(
            1 if self.breach_type != fence_mod.BREACH_NONE else 0,
            self.breach_count,
            self.breach_type,
            self.breach_time_ms,
            mitigation,
        )

    # ------------------------------------------------------------------ lists

    def set_list(self, mission_type: int, items: list[StoredItem]) -> None:
        """Replace a whole mission/fence/rally list (after a completed upload or a clear)."""
        if mission_type == MISSION:
            if items:
                items = [self.home_item(), *items[1:]]
            self.mission = items
            self.params.set("MIS_TOTAL", max(0, len(items) - 1))
            if self.mode == "AUTO" and self.nav is not None and self.nav.seq is not None:
                # ArduPilot keeps flying the new list from the same index when uploaded in AUTO.
                if self.current_seq >= len(items):
                    self._mission_complete()
            else:
                self.current_seq = 1 if len(items) > 1 else 0
                self.mission_state = (
                    M.MISSION_STATE_NOT_STARTED if len(items) > 1 else M.MISSION_STATE_NO_MISSION
                )
            self._jump_counts.clear()
            self.emit(self.mission_current_message())
        elif mission_type == FENCE:
            self.fence_items = items
            self.fence_geom = fence_mod.FenceGeometry.from_items(items, self.plane)
            self.params.set("FENCE_TOTAL", len(items))
        elif mission_type == RALLY:
            self.rally_items = items
            self.params.set("RALLY_TOTAL", len(items))

    def get_list(self, mission_type: int) -> list[StoredItem]:
        if mission_type == MISSION:
            if not self.mission:
                return [self.home_item()]
            return [self.home_item(), *self.mission[1:]]
        if mission_type == FENCE:
            return list(self.fence_items)
        return list(self.rally_items)

    def home_item(self) -> StoredItem:
        lat, lon = self.plane.to_latlon(*self.home_ne)
        return StoredItem(
            0,
            M.MAV_FRAME_GLOBAL,
            M.MAV_CMD_NAV_WAYPOINT,
            0,
            1,
            0.0,
            0.0,
            0.0,
            0.0,
            round(lat * 1e7),
            round(lon * 1e7),
            self.home_alt_amsl_m,
            MISSION,
        )

    # ------------------------------------------------------------------ arming

    def arm(self, force: bool = False) -> tuple[bool, list[str]]:
        """Run the arming checks and arm; (ok, status texts sent)."""
        if self.armed:
            return True, []
        problems = [] if force else self.prearm_problems()
        if problems:
            for p in problems:
                self.text("critical", p)
            return False, problems
        self.armed = True
        self.armed_at = self.time_s
        self.landed_since = self.time_s
        self.breadcrumbs = []
        self.batt_failsafe = False
        self._batt_low_since = None
        # ArduPilot moves home to where the vehicle arms.
        self.set_home(self.body.n, self.body.e, self.ground_amsl_m + self.body.u)
        if self.mode == "AUTO":
            self._mission_start()
        elif self.mode == "GUIDED" or (not self.is_copter and self.mode == "HOLD"):
            self.nav = _Nav("hold", self.body.n, self.body.e, self.body.u)
        self.heartbeat_now = True
        return True, []

    def prearm_problems(self) -> list[str]:
        if self.params["ARMING_CHECK"] == 0:
            return self._arm_mode_problems()
        problems: list[str] = []
        if not self.gps_fix:
            problems.append("PreArm: Need 3D Fix")
        if not self.ekf_ok:
            problems.append("PreArm: Need Position Estimate")
        low = self.params["BATT_LOW_VOLT"]
        if self.voltage < max(low, self.params["BATT_ARM_VOLT"]) and low > 0:
            problems.append(f"PreArm: Battery 1 low voltage {self.voltage:.2f}V")
        if self.battery_remaining_pct <= 5:
            problems.append("PreArm: Battery 1 below minimum capacity")
        if self.motor_failed:
            problems.append("PreArm: Motors: motor 1 failed")
        if self.fence_enabled:
            ftype = int(self.params["FENCE_TYPE"])
            if ftype & fence_mod.TYPE_POLYGON and not self.fence_geom.has_polygon:
                problems.append("PreArm: Fence enabled, need polygon fence")
            elif self._breach_now() != fence_mod.BREACH_NONE:
                problems.append("PreArm: Vehicle breaching fence")
        problems.extend(self._arm_mode_problems())
        return problems

    def _arm_mode_problems(self) -> list[str]:
        armable = COPTER_ARMABLE if self.is_copter else ROVER_ARMABLE
        if self.mode not in armable:
            return ["Arm: Mode not armable"]
        if self.is_copter and self.mode == "AUTO":
            if not int(self.params["AUTO_OPTIONS"]) & 1:
                return ["Arm: Mode not armable"]
            if not self._mission_starts_with_takeoff():
                return ["Arm: Auto: Missing Takeoff Cmd"]
        return []

    def disarm(self, force: bool = False) -> bool:
        if not self.armed:
            return True
        if self.is_copter and not self.landed and not force:
            return False
        self._disarm()
        return True

    def _disarm(self) -> None:
        self.armed = False
        self.nav = None
        self.paused = False
        self.heartbeat_now = True
        if self.mission_state == M.MISSION_STATE_ACTIVE and self.mode != "AUTO":
            self.mission_state = M.MISSION_STATE_PAUSED

    def set_home(self, n: float, e: float, alt_amsl: float) -> None:
        if not -500.0 <= alt_amsl <= MAX_ALT_M:
            self.text("warning", f"Home altitude {alt_amsl:g} m refused")
            return
        self.home_ne = (n, e)
        self.home_alt_amsl_m = alt_amsl
        if self.mission:
            self.mission[0] = self.home_item()
        self.emit(self.home_position_message())

    # ------------------------------------------------------------------ modes

    def set_mode(self, name: str) -> tuple[bool, str]:
        """Change mode as a ground station asks; (ok, reason when refused)."""
        if name not in modes_for(self.kind):
            return False, f"Unknown mode {name}"
        if self.motor_failed and self.is_copter and name != "LAND":
            return False, "Mode change failed: motor failure, landing"
        if name in NEEDS_POSITION and not self.ekf_ok:
            return False, f"Mode change to {name} failed: requires position"
        if name == "AUTO":
            if len(self.mission) < 2:
                return False, "Mode change to AUTO failed: no mission"
            if (
                self.is_copter
                and self.armed
                and self.landed
                and not self._mission_starts_with_takeoff()
            ):
                return False, "Auto: Missing Takeoff Cmd"
        self._enter_mode(name)
        return True, ""

    def _enter_mode(self, name: str) -> None:
        previous = self.mode
        self.mode = name
        self.paused = False
        self.heartbeat_now = True
        b = self.body
        if previous == "AUTO" and name != "AUTO" and self.mission_state == M.MISSION_STATE_ACTIVE:
            self.mission_state = M.MISSION_STATE_PAUSED
        if name == "AUTO":
            if self.armed:
                self._mission_start()
            return
        if name in ("GUIDED", "LOITER", "BRAKE", "HOLD"):
            sn, se = self._stop_point()
            flying = self.armed and not self._idle_on_ground()
            self.nav = _Nav("hold", sn, se, b.u) if flying else None
        elif name in ("RTL", "SMART_RTL"):
            self.nav = self._rtl_nav() if self.armed else None
        elif name == "LAND":
            self.nav = _Nav("land", b.n, b.e, 0.0) if self.armed else None
        else:  # STABILIZE, MANUAL: no pilot in the loop here, so sticks are centred/low.
            self.nav = None

    def _idle_on_ground(self) -> bool:
        return self.is_copter and self.landed

    def _stop_point(self) -> tuple[float, float]:
        b = self.body
        speed = b.ground_speed
        accel = self._accel_h()
        if speed < 0.05 or accel <= 0:
            return b.n, b.e
        d = speed * speed / (2.0 * accel)
        return b.n + b.vn / speed * d, b.e + b.ve / speed * d

    def _failsafe_mode(self, action: str, reason: str) -> None:
        """Switch mode for a failsafe (these switches are never refused)."""
        if action == "RTL" and not self.ekf_ok:
            action = "LAND" if self.is_copter else "HOLD"
        if self.mode == action:
            return
        if self.is_copter and self.mode == "LAND" and action == "RTL":
            return
        self.text("critical", f"{reason}: changed to {action} mode")
        self._enter_mode(action)

    # ------------------------------------------------------------------ guided

    def goto(self, lat: float, lon: float, alt_rel_m: float | None, speed: float | None) -> bool:
        """Fly to a point in GUIDED (DO_REPOSITION, SET_POSITION_TARGET_GLOBAL_INT)."""
        if self.mode != "GUIDED" or not self.armed:
            return False
        if self.is_copter and self.landed:
            return False
        if alt_rel_m is not None and not -500.0 <= alt_rel_m <= MAX_ALT_M:
            return False
        n, e = self.plane.to_ne(lat, lon)
        u = self.body.u if alt_rel_m is None else self._u_from_rel(alt_rel_m)
        if (
            self.is_copter
            and self.fence_enabled
            and fence_mod.check_breach(
                self.fence_geom,
                int(self.params["FENCE_TYPE"]),
                n,
                e,
                self.alt_rel_m if alt_rel_m is None else alt_rel_m,
                self.home_ne,
                self.params["FENCE_RADIUS"],
                self.params["FENCE_ALT_MAX"],
                self.params["FENCE_ALT_MIN"],
            )
            != fence_mod.BREACH_NONE
        ):
            # As ArduCopter's GUIDED (AC_Fence::check_destination_within_fence): the destination
            # is checked, never the straight leg to it. One outside an enabled fence is refused
            # (a NAK to DO_REPOSITION, nothing to SET_POSITION_TARGET_*); the copter holds.
            # ArduRover does not check GUIDED destinations: only its fence action stops it.
            return False
        if speed is not None:
            speed = min(speed, MAX_SPEED_M_S)
        self.nav = _Nav("goto", n, e, u, radius=0.5, speed=speed, forever=True)
        return True

    def takeoff(self, alt_rel_m: float) -> tuple[bool, str]:
        if not self.is_copter:
            return False, "Takeoff: not a copter"
        if not self.armed:
            return False, "Takeoff: not armed"
        if self.mode != "GUIDED":
            return False, "Takeoff: not in GUIDED"
        if not self.landed:
            return False, "Takeoff: already flying"
        if not 0.0 < alt_rel_m <= MAX_ALT_M:
            return False, f"Takeoff: bad altitude {alt_rel_m:g} m"
        self.nav = _Nav("takeoff", self.body.n, self.body.e, self._u_from_rel(max(1.0, alt_rel_m)))
        return True, ""

    def pause(self, pause: bool) -> bool:
        if self.mode not in ("AUTO", "GUIDED", "RTL", "SMART_RTL") or not self.armed:
            return False
        self.paused = pause
        if pause:
            self.mission_state = (
                M.MISSION_STATE_PAUSED if self.mode == "AUTO" else self.mission_state
            )
            self._pause_point = self._stop_point()
        elif self.mode == "AUTO":
            self.mission_state = M.MISSION_STATE_ACTIVE
        return True

    def set_speed(self, speed: float) -> None:
        if speed > 0:
            self.speed_override = min(speed, MAX_SPEED_M_S)

    # ------------------------------------------------------------------ mission

    def _mission_starts_with_takeoff(self) -> bool:
        for item in self.mission[1:]:
            if item.command in NAV_COMMANDS:
                return item.command == M.MAV_CMD_NAV_TAKEOFF
        return False

    def set_current(self, seq: int) -> bool:
        if not 0 < seq < len(self.mission):
            return False
        self.current_seq = seq
        if self.mode == "AUTO" and self.armed:
            self._advance(seq)
        self.emit(self.mission_current_message())
        return True

    def _mission_start(self, first: int | None = None) -> None:
        if len(self.mission) < 2:
            return
        if first is not None and 0 < first < len(self.mission):
            start = first
        elif self.mission_state == M.MISSION_STATE_COMPLETE or self.current_seq < 1:
            start = 1
        else:
            start = self.current_seq
        if self.mission_state in (M.MISSION_STATE_NOT_STARTED, M.MISSION_STATE_COMPLETE):
            self._jump_counts.clear()
            self.speed_override = None
        self.mission_state = M.MISSION_STATE_ACTIVE
        self._advance(start)

    def start_mission(self, first: int = 0, last: int = 0) -> tuple[bool, str]:
        """MAV_CMD_MISSION_START: switch to AUTO and start (or resume) the mission."""
        if not self.armed:
            return False, "Mission start: not armed"
        if len(self.mission) < 2:
            return False, "Mission start: no mission"
        if self.mode != "AUTO":
            ok, reason = self.set_mode("AUTO")
            if not ok:
                return False, reason
        if first > 0:
            self._mission_start(first)
        elif self.mission_state != M.MISSION_STATE_ACTIVE or self.nav is None:
            self._mission_start()
        return True, ""

    def _advance(self, seq: int) -> None:
        """Run DO commands from `seq` up to the next NAV command, and start that."""
        loops = 0
        while seq < len(self.mission):
            loops += 1
            if loops > 1000:
                break
            item = self.mission[seq]
            if item.command in NAV_COMMANDS:
                self.current_seq = seq
                self.emit(self.mission_current_message())
                self.text("info", f"Mission: {seq} {_CMD_SHORT.get(item.command, 'Cmd')}")
                self._start_nav_item(item)
                return
            if item.command == M.MAV_CMD_DO_JUMP:
                target = _as_int(item.param1)
                repeat = _as_int(item.param2)
                done = self._jump_counts.get(seq, 0)
                if 0 < target < len(self.mission) and (repeat < 0 or done < repeat):
                    self._jump_counts[seq] = done + 1
                    seq = target
                    continue
                seq += 1
                continue
            self.do_command(
                item.command,
                item.param1,
                item.param2,
                item.param3,
                item.param4,
                float(item.x),
                float(item.y),
                item.z,
            )
            seq += 1
        self._mission_complete()

    def _mission_complete(self) -> None:
        self.current_seq = max(0, len(self.mission) - 1)
        self.mission_state = M.MISSION_STATE_COMPLETE
        self.emit(self.mission_current_message())
        self.text("info", "Mission Complete" if not self.is_copter else "Mission complete")
        b = self.body
        if self.is_copter and self.landed:
            if self.armed:
                self._disarm()
            self.nav = None
        else:
            # Copter: loiter where it is; rover: stop (MIS_DONE_BEHAVE 0 = hold).
            sn, se = self._stop_point()
            self.nav = _Nav("hold", sn, se, b.u, seq=None)

    def _u_from_rel(self, alt_rel_m: float) -> float:
        return alt_rel_m + self.home_alt_amsl_m - self.ground_amsl_m

    def _item_target(self, item: StoredItem) -> tuple[float, float, float]:
        b = self.body
        if item.x == 0 and item.y == 0:
            n, e = b.n, b.e
        else:
            n, e = self.plane.to_ne(item.lat, item.lon)
        if item.frame in AMSL_FRAMES:
            u = item.z - self.ground_amsl_m
        elif item.z == 0.0 and item.command != M.MAV_CMD_NAV_TAKEOFF:
            u = b.u  # ArduPilot keeps the current altitude when none is given
        else:
            u = self._u_from_rel(item.z)
        return n, e, max(0.0, u) if self.is_copter else 0.0

    def _start_nav_item(self, item: StoredItem) -> None:
        b = self.body
        cmd = item.command
        n, e, u = self._item_target(item)
        radius = self._wp_radius()
        if cmd == M.MAV_CMD_NAV_TAKEOFF:
            if not self.is_copter:
                self.nav = _Nav("delay", hold_s=0.0, seq=item.seq)
                return
            self.nav = _Nav(
                "takeoff", b.n, b.e, max(u, b.u if not self.landed else 1.0), seq=item.seq
            )
        elif cmd in (M.MAV_CMD_NAV_WAYPOINT, M.MAV_CMD_NAV_SPLINE_WAYPOINT):
            if item.param2 > 0:
                radius = item.param2
            self.nav = _Nav(
                "goto",
                n,
                e,
                u,
                radius=radius,
                hold_s=max(0.0, item.param1),
                seq=item.seq,
                prev_n=b.n,
                prev_e=b.e,
            )
            if item.param1 <= 0:
                self.nav.end_speed = self._corner_speed(item.seq, n, e)
        elif cmd == M.MAV_CMD_NAV_LOITER_TIME:
            self.nav = _Nav(
                "goto",
                n,
                e,
                u,
                radius=radius,
                hold_s=max(0.0, item.param1),
                seq=item.seq,
                prev_n=b.n,
                prev_e=b.e,
            )
        elif cmd == M.MAV_CMD_NAV_LOITER_TURNS:
            # Circling is not modelled: hold over the point for the time the turns would take.
            turn_s = 2.0 * math.pi * max(abs(_finite(item.param3)), 10.0) / 5.0
            self.nav = _Nav(
                "goto", n, e, u, radius=radius, hold_s=max(0.0, item.param1) * turn_s, seq=item.seq
            )
        elif cmd == M.MAV_CMD_NAV_LOITER_UNLIM:
            self.nav = _Nav("goto", n, e, u, radius=radius, seq=item.seq, forever=True)
        elif cmd == M.MAV_CMD_NAV_DELAY:
            self.nav = _Nav("delay", hold_s=max(0.0, item.param1), seq=item.seq)
            self.nav.arrived_at = self.time_s
        elif cmd == M.MAV_CMD_NAV_LAND:
            if self.is_copter:
                nav = _Nav("land", n, e, 0.0, seq=item.seq)
                if math.hypot(n - b.n, e - b.e) > 2.0 and not self.landed:
                    nav.stage = "approach"
                    nav.u = b.u
                self.nav = nav
            else:
                self.nav = _Nav("goto", n, e, 0.0, radius=radius, seq=item.seq)
        elif cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self.nav = self._rtl_nav()
            self.nav.seq = item.seq
        else:
            self.nav = _Nav("delay", hold_s=0.0, seq=item.seq)

    def _corner_speed(self, seq: int, n: float, e: float) -> float:
        """Speed through a waypoint: full speed straight on, none for a turn of 90° or more."""
        b = self.body
        nxt = None
        for item in self.mission[seq + 1 :]:
            if item.command in NAV_COMMANDS:
                nxt = item
                break
            if item.command == M.MAV_CMD_DO_JUMP:
                return 0.0
        if nxt is None or nxt.command != M.MAV_CMD_NAV_WAYPOINT or nxt.param1 > 0:
            return 0.0
        nn, ne, _ = self._item_target(nxt)
        a1 = bearing_deg(n - b.n, e - b.e)
        a2 = bearing_deg(nn - n, ne - e)
        turn = abs(wrap_180(a2 - a1))
        return self._cruise_speed() * max(0.0, math.cos(math.radians(turn)))

    def _touchdown(self) -> None:
        nav = self.nav
        self._disarm()
        if self.mode == "AUTO" and nav is not None and nav.seq is not None:
            self.emit(M.MAVLink_mission_item_reached_message(nav.seq))
            self.current_seq = nav.seq
            self._advance(nav.seq + 1)

    def _nav_complete(self) -> None:
        nav = self.nav
        if nav is None:
            return
        if self.mode == "AUTO" and nav.seq is not None:
            self.emit(M.MAVLink_mission_item_reached_message(nav.seq))
            self._advance(nav.seq + 1)
        elif nav.kind == "takeoff":
            self.nav = _Nav("hold", nav.n, nav.e, nav.u)

    # ------------------------------------------------------------------ DO commands

    def do_command(
        self,
        command: int,
        p1: float,
        p2: float,
        p3: float,
        p4: float,
        p5: float,
        p6: float,
        p7: float,
    ) -> bool:
        """Run a DO command from the mission or from COMMAND_LONG; False if unsupported."""
        if command == M.MAV_CMD_DO_CHANGE_SPEED:
            self.set_speed(p2)
            return True
        if command == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            self.trigg_dist = max(0.0, p1)
            self._last_trigger_ne = (self.body.n, self.body.e)
            if p3 == 1 and self.trigg_dist > 0:
                self.trigger_camera()
            return True
        if command == M.MAV_CMD_DO_DIGICAM_CONTROL:
            if p5 != 0:
                self.trigger_camera()
            return True
        if command == M.MAV_CMD_DO_SET_HOME:
            if p1 == 1 or (p5 == 0 and p6 == 0):
                self.set_home(self.body.n, self.body.e, self.ground_amsl_m + self.body.u)
            else:
                lat = p5 / 1e7 if abs(p5) > 1000 else p5
                lon = p6 / 1e7 if abs(p6) > 1000 else p6
                n, e = self.plane.to_ne(lat, lon)
                self.set_home(n, e, p7)
            return True
        if command == M.MAV_CMD_DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1.0 if _as_int(p1) == 1 else 0.0)
            return True
        return command in (
            M.MAV_CMD_DO_SET_ROI,
            M.MAV_CMD_DO_SET_ROI_LOCATION,
            M.MAV_CMD_DO_SET_ROI_NONE,
            M.MAV_CMD_DO_MOUNT_CONTROL,
            M.MAV_CMD_CONDITION_YAW,
            M.MAV_CMD_DO_SET_SERVO,
            M.MAV_CMD_DO_SET_RELAY,
            M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
        )

    def trigger_camera(self) -> Capture:
        """Take a picture now: record it and emit CAMERA_FEEDBACK with the pose."""
        b = self.body
        lat, lon = self.estimated_latlon()
        alt_amsl = self.ground_amsl_m + self.est_u
        cap = Capture(
            img_idx=len(self.captures) + 1,
            time_usec=self.time_unix_usec,
            lat=lat,
            lon=lon,
            alt_amsl_m=alt_amsl,
            alt_agl_m=alt_amsl - self.home_alt_amsl_m,
            roll_deg=b.roll_deg,
            pitch_deg=b.pitch_deg,
            yaw_deg=b.yaw_deg,
        )
        self.captures.append(cap)
        self._last_trigger_ne = (b.n, b.e)
        self.emit(
            M.MAVLink_camera_feedback_message(
                cap.time_usec,
                0,
                0,
                cap.img_idx,
                round(lat * 1e7),
                round(lon * 1e7),
                cap.alt_amsl_m,
                cap.alt_agl_m,
                cap.roll_deg,
                cap.pitch_deg,
                cap.yaw_deg,
                4.5,
                M.CAMERA_FEEDBACK_PHOTO,
                cap.img_idx,
            )
        )
        return cap

    # ------------------------------------------------------------------ RTL

    def _rtl_target(self) -> tuple[float, float]:
        b = self.body
        best = self.home_ne
        best_d = math.hypot(b.n - best[0], b.e - best[1])
        for item in self.rally_items:
            n, e = self.plane.to_ne(item.lat, item.lon)
            d = math.hypot(b.n - n, b.e - e)
            if d < best_d:
                best, best_d = (n, e), d
        return best

    def _rtl_nav(self) -> _Nav:
        b = self.body
        n, e = self._rtl_target()
        if not self.is_copter:
            return _Nav("rtl", n, e, 0.0, radius=self._wp_radius(), stage="return")
        rtl_alt = self.params["RTL_ALT"] / 100.0
        target_u = max(b.u, self._u_from_rel(rtl_alt)) if rtl_alt > 0 else b.u
        if self.fence_enabled and int(self.params["FENCE_TYPE"]) & fence_mod.TYPE_ALT_MAX:
            cap_u = self._u_from_rel(self.params["FENCE_ALT_MAX"] - self.params["FENCE_MARGIN"])
            target_u = min(target_u, max(b.u, cap_u))
        sn, se = self._stop_point()
        nav = _Nav("rtl", n, e, target_u, stage="climb", prev_n=sn, prev_e=se)
        if self.landed:
            nav.stage = "land"
        return nav

    # ------------------------------------------------------------------ faults

    def fail_motor(self) -> None:
        self.motor_failed = True
        if self.is_copter:
            if self.armed and not self.landed:
                self.text("emergency", "Motor 1 failure: landing")
                self._enter_mode("LAND")
        else:
            self.text("emergency", "Motor failure: holding")
            self._enter_mode("HOLD")

    def drain_battery(self, remaining_pct: float) -> None:
        cap = self.params["BATT_CAPACITY"]
        self.consumed_mah = cap * (1.0 - max(0.0, min(100.0, remaining_pct)) / 100.0)

    def gcs_heartbeat(self, real_time_s: float) -> None:
        self.last_gcs_heartbeat = (self.time_s, real_time_s)
        if self.gcs_failsafe:
            self.gcs_failsafe = False
            self.text("info", "GCS Failsafe Cleared")

    # ------------------------------------------------------------------ the step

    def step(self, dt: float, real_time_s: float = 0.0) -> None:
        self.time_s += dt
        update_sensors(self, dt)
        update_battery(self, dt)
        check_failsafes(self, real_time_s)
        if self.is_copter:
            fly_copter(self, dt)
        else:
            drive_rover(self, dt)
        update_estimate(self)
        if self.armed:
            self._camera()
            if self.time_s >= self._fence_next_check:
                self._fence_next_check = self.time_s + 0.1
                check_fence(self)
            if self.mode != "SMART_RTL":
                self._breadcrumb()
        auto_disarm(self)

    def _wind(self) -> tuple[float, float]:
        spd = self.params["SIM_WIND_SPD"]
        if spd <= 0:
            return 0.0, 0.0
        # SIM_WIND_DIR is where the wind comes from; it blows towards the opposite bearing.
        to = math.radians(self.params["SIM_WIND_DIR"] + 180.0)
        return spd * math.cos(to), spd * math.sin(to)

    def _breach_now(self) -> int:
        return fence_mod.check_breach(
            self.fence_geom,
            int(self.params["FENCE_TYPE"]),
            self.est_n,
            self.est_e,
            self.alt_rel_m,
            self.home_ne,
            self.params["FENCE_RADIUS"],
            self.params["FENCE_ALT_MAX"],
            self.params["FENCE_ALT_MIN"],
        )

    def _camera(self) -> None:
        if self.trigg_dist <= 0 or self._last_trigger_ne is None:
            return
        b = self.body
        ln, le = self._last_trigger_ne
        if (b.n - ln) ** 2 + (b.e - le) ** 2 >= self.trigg_dist * self.trigg_dist:
            self.trigger_camera()

    def _breadcrumb(self) -> None:
        b = self.body
        if not self.breadcrumbs:
            self.breadcrumbs.append((b.n, b.e))
            return
        ln, le = self.breadcrumbs[-1]
        if (b.n - ln) ** 2 + (b.e - le) ** 2 > 25.0 and len(self.breadcrumbs) < 300:
            self.breadcrumbs.append((b.n, b.e))

    # ------------------------------------------------------------------ copter guidance

    def _accel_h(self) -> float:
        if self.is_copter:
            return self.params["WPNAV_ACCEL"] / 100.0
        return self.params["ATC_ACCEL_MAX"]

    def _cruise_speed(self) -> float:
        if self.speed_override is not None:
            return self.speed_override
        if self.is_copter:
            speed = self.params["WPNAV_SPEED"] / 100.0
        else:
            wp = self.params["WP_SPEED"]
            speed = wp if wp > 0 else self.params["CRUISE_SPEED"]
        # Parameters are not range-checked on PARAM_SET (nor in ArduPilot); physics is.
        return max(0.1, min(speed, MAX_SPEED_M_S))

    def _wp_radius(self) -> float:
        if self.is_copter:
            return max(0.05, self.params["WPNAV_RADIUS"] / 100.0)
        return max(0.1, self.params["WP_RADIUS"])

    def _vertical_speed(self, du: float) -> float:
        p = self.params
        up = min(p["WPNAV_SPEED_UP"] / 100.0, 20.0)
        down = min(p["WPNAV_SPEED_DN"] / 100.0, 20.0)
        accel = p["WPNAV_ACCEL_Z"] / 100.0
        if du >= 0:
            return approach_speed(du, up, accel)
        return -approach_speed(-du, down, accel)


def _finite(x: float, default: float = 0.0) -> float:
    return x if math.isfinite(x) else default


def _as_int(x: float) -> int:
    """An integer command parameter; NaN or infinite counts as 0."""
    return int(x) if math.isfinite(x) else 0


def mode_number(kind: str, name: str) -> int:
    return modes_for(kind)[name]


__all__ = ["Capture", "Position", "Vehicle", "mode_name", "mode_number"]
