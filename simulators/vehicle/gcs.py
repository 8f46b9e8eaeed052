"""A minimal blocking MAVLink ground station for scripts, tests and benchmarks of the simulator.

This is deliberately small and synchronous (plain pymavlink): the project's vehicle API is
`telemetry.link.Vehicle`. It talks to any ArduPilot-like autopilot, so the same scripts run
against the built-in simulator and ArduPilot SITL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.modes import modes_for

M = mavlink2
FORCE = 21196


@dataclass(frozen=True)
class Item:
    """One mission/fence/rally item to upload (MISSION_ITEM_INT fields, degrees for lat/lon)."""

    command: int
    lat: float = 0.0
    lon: float = 0.0
    alt: float = 0.0
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    mission_type: int = M.MAV_MISSION_TYPE_MISSION


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m`, `east_m` metres from (lat, lon) on a local plane."""
    m_per_deg = 6378137.0 * math.pi / 180.0
    return lat + north_m / m_per_deg, lon + east_m / (m_per_deg * math.cos(math.radians(lat)))


def _seq_is(seq: int) -> Callable[[Any], bool]:
    return lambda m: bool(m.seq == seq)


class GroundStation:
    """Blocking client of one vehicle on `url` (pymavlink connection string)."""

    def __init__(
        self,
        url: str,
        target_system: int = 1,
        source_system: int = 255,
        source_component: int = M.MAV_COMP_ID_MISSIONPLANNER,
        timeout: float = 10.0,
        request_streams: bool = False,
    ) -> None:
        self.conn = mavutil.mavlink_connection(
            url,
            source_system=source_system,
            source_component=source_component,
            dialect="ardupilotmega",
            autoreconnect=False,
        )
        self.target_system = target_system
        self.source_system = source_system
        self.target_component = M.MAV_COMP_ID_AUTOPILOT1
        self.timeout = timeout
        self.texts: list[str] = []
        self.kind = "copter"
        self.last_heartbeat: Any = None
        if url.startswith("udpin:"):
            # Nothing arrives on a UDP listen socket until we are known: say hello first.
            self.heartbeat()
        hb = self.recv(
            "HEARTBEAT", timeout=timeout, cond=lambda m: m.get_srcSystem() == target_system
        )
        self.kind = "rover" if hb.type == M.MAV_TYPE_GROUND_ROVER else "copter"
        if request_streams:
            # ArduCopter streams only heartbeats until a ground station asks for telemetry
            # (the rates stay set on that port for later connections).
            self.mav.request_data_stream_send(
                self.target_system, self.target_component, M.MAV_DATA_STREAM_ALL, 4, 1
            )

    @property
    def mav(self) -> Any:
        return self.conn.mav

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> GroundStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _to_me(self, msg: Any) -> bool:
        """Addressed to this station (a TCP server sends every client everything)."""
        return int(getattr(msg, "target_system", 0)) in (0, self.source_system)

    def heartbeat(self) -> None:
        self.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def _note(self, msg: Any) -> None:
        mtype = msg.get_type()
        if mtype == "STATUSTEXT":
            self.texts.append(msg.text)
        elif mtype == "HEARTBEAT" and msg.get_srcSystem() == self.target_system:
            self.last_heartbeat = msg

    def recv(
        self,
        types: str | Iterable[str],
        timeout: float | None = None,
        cond: Callable[[Any], bool] | None = None,
    ) -> Any:
        """The next message of `types` (matching `cond`); TimeoutError if none comes."""
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {sorted(wanted)} within the timeout")
            msg = self.conn.recv_match(blocking=True, timeout=min(left, 0.2))
            if msg is None:
                continue
            self._note(msg)
            if msg.get_type() in wanted and (cond is None or cond(msg)):
                return msg

    def drain(self, seconds: float) -> list[Any]:
        """Everything received during `seconds` of wall-clock time."""
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.conn.recv_match(blocking=True, timeout=max(0.0, deadline - time.monotonic()))
            if msg is not None:
                self._note(msg)
                out.append(msg)
        return out

    # ------------------------------------------------------------------ commands

    def command(self, command: int, *params: float, timeout: float | None = None) -> int:
        """COMMAND_LONG; returns the MAV_RESULT of the COMMAND_ACK."""
        p = [float(x) for x in params] + [0.0] * (7 - len(params))
        self.mav.command_long_send(self.target_system, self.target_component, command, 0, *p)
        ack = self.recv(
            "COMMAND_ACK", timeout, cond=lambda m: m.command == command and self._to_me(m)
        )
        return int(ack.result)

    def command_int(
        self,
        command: int,
        lat: float,
        lon: float,
        alt: float,
        *params: float,
        frame: int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        timeout: float | None = None,
    ) -> int:
        p = [float(x) for x in params] + [0.0] * (4 - len(params))
        self.mav.command_int_send(
            self.target_system,
            self.target_component,
            frame,
            command,
            0,
            0,
            *p,
            round(lat * 1e7),
            round(lon * 1e7),
            alt,
        )
        ack = self.recv(
            "COMMAND_ACK", timeout, cond=lambda m: m.command == command and self._to_me(m)
        )
        return int(ack.result)

    def set_mode(self, name: str) -> int:
        number = modes_for(self.kind)[name]
        return self.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number)

    def arm(self, force: bool = False) -> int:
        return self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1, FORCE if force else 0)

    def disarm(self, force: bool = False) -> int:
        return self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0, FORCE if force else 0)

    def wait_heartbeat(self, cond: Callable[[Any], bool], timeout: float | None = None) -> Any:
        return self.recv(
            "HEARTBEAT",
            timeout,
            cond=lambda m: m.get_srcSystem() == self.target_system and cond(m),
        )

    def wait_mode(self, name: str, timeout: float | None = None) -> Any:
        number = modes_for(self.kind)[name]
        return self.wait_heartbeat(lambda m: m.custom_mode == number, timeout)

    def wait_disarmed(self, timeout: float | None = None) -> Any:
        return self.wait_heartbeat(
            lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED, timeout
        )

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until EKF_STATUS_REPORT says the position estimate is good (ready to arm)."""
        good = M.EKF_POS_HORIZ_ABS | M.EKF_PRED_POS_HORIZ_ABS
        self.mav.command_long_send(
            self.target_system,
            self.target_component,
            M.MAV_CMD_SET_MESSAGE_INTERVAL,
            0,
            M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
            200000,
            0,
            0,
            0,
            0,
            0,
        )
        self.recv("EKF_STATUS_REPORT", timeout, cond=lambda m: (m.flags & good) == good)

    # ------------------------------------------------------------------ parameters

    def param_set(self, name: str, value: float, timeout: float | None = None) -> float:
        self.mav.param_set_send(
            self.target_system,
            self.target_component,
            name.encode(),
            value,
            M.MAV_PARAM_TYPE_REAL32,
        )
        msg = self.recv("PARAM_VALUE", timeout, cond=lambda m: m.param_id == name)
        return float(msg.param_value)

    def param_get(self, name: str, timeout: float | None = None) -> float:
        self.mav.param_request_read_send(
            self.target_system, self.target_component, name.encode(), -1
        )
        msg = self.recv("PARAM_VALUE", timeout, cond=lambda m: m.param_id == name)
        return float(msg.param_value)

    def param_list(self, timeout: float | None = None) -> dict[str, float]:
        self.mav.param_request_list_send(self.target_system, self.target_component)
        first = self.recv("PARAM_VALUE", timeout)
        values = {first.param_id: float(first.param_value)}
        while len(values) < first.param_count:
            msg = self.recv("PARAM_VALUE", timeout)
            values[msg.param_id] = float(msg.param_value)
        return values

    # ------------------------------------------------------------------ missions

    def upload(
        self,
        items: list[Item],
        mission_type: int = M.MAV_MISSION_TYPE_MISSION,
        legacy: bool = False,
        timeout: float | None = None,
    ) -> int:
        """Upload a list; returns the MAV_MISSION_RESULT of the final MISSION_ACK."""
        ts, tc = self.target_system, self.target_component
        self.mav.mission_count_send(ts, tc, len(items), mission_type)
        while True:
            msg = self.recv(
                ("MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"),
                timeout,
                cond=lambda m: getattr(m, "mission_type", 0) == mission_type and self._to_me(m),
            )
            if msg.get_type() == "MISSION_ACK":
                return int(msg.type)
            it = items[msg.seq]
            if legacy:
                self.mav.mission_item_send(
                    ts,
                    tc,
                    msg.seq,
                    it.frame,
                    it.command,
                    0,
                    1,
                    it.param1,
                    it.param2,
                    it.param3,
                    it.param4,
                    it.lat,
                    it.lon,
                    it.alt,
                    mission_type,
                )
            else:
                self.mav.mission_item_int_send(
                    ts,
                    tc,
                    msg.seq,
                    it.frame,
                    it.command,
                    0,
                    1,
                    it.param1,
                    it.param2,
                    it.param3,
                    it.param4,
                    round(it.lat * 1e7),
                    round(it.lon * 1e7),
                    it.alt,
                    mission_type,
                )

    def download(
        self,
        mission_type: int = M.MAV_MISSION_TYPE_MISSION,
        legacy: bool = False,
        timeout: float | None = None,
    ) -> list[Any]:
        """Download a list; MISSION_ITEM_INT messages (MISSION_ITEM with `legacy`)."""
        ts, tc = self.target_system, self.target_component
        self.mav.mission_request_list_send(ts, tc, mission_type)
        count = self.recv(
            "MISSION_COUNT",
            timeout,
            cond=lambda m: m.mission_type == mission_type and self._to_me(m),
        ).count
        out = []
        for seq in range(count):
            if legacy:
                self.mav.mission_request_send(ts, tc, seq, mission_type)
                want = "MISSION_ITEM"
            else:
                self.mav.mission_request_int_send(ts, tc, seq, mission_type)
                want = "MISSION_ITEM_INT"
            out.append(self.recv(want, timeout, cond=_seq_is(seq)))
        self.mav.mission_ack_send(ts, tc, M.MAV_MISSION_ACCEPTED, mission_type)
        return out

    def clear(self, mission_type: int = M.MAV_MISSION_TYPE_MISSION) -> int:
        self.mav.mission_clear_all_send(self.target_system, self.target_component, mission_type)
        return int(self.recv("MISSION_ACK", cond=self._to_me).type)
