"""A small, scriptable MAVLink autopilot on a real TCP socket, for the link's fault tests.

It is not a simulator: it answers the mission and command protocols the way a real autopilot
does, and can be told to misbehave (never answer, stop halfway, request items out of
sequence, NACK, deny arming with PreArm texts, answer IN_PROGRESS, drop the connection).
The built-in simulator (``simulators.vehicle``) is used for everything that flies.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

COPTER = mavlink2.MAV_TYPE_QUADROTOR


@dataclass
class PeerScript:
    """How the fake autopilot behaves."""

    sysid: int = 1
    heartbeat_s: float = 0.1
    silent: bool = False  # heartbeats only; never answers a request
    cut_upload_after: int | None = None  # stop requesting after this many items
    request_out_of_sequence: bool = False  # ask for item 2 right after item 0
    legacy_requests: bool = False  # MISSION_REQUEST / MISSION_ITEM (no _INT)
    upload_nack: int | None = None  # MAV_MISSION_RESULT to answer the count with
    home_item: tuple[float, float, float] | None = None  # replace item 0 on download
    round_params_float32: bool = True
    arm_denied_reasons: list[str] = field(default_factory=list)
    in_progress_commands: set[int] = field(default_factory=set)
    unsupported_commands: set[int] = field(default_factory=set)
    mav_type: int = COPTER
    other_sysids: tuple[int, ...] = ()  # more vehicles on the same connection (modes only)
    position: tuple[float, float, float] = (41.8057, 123.4315, 42.0)  # lat, lon, alt AMSL


class FakeAutopilot:
    """Serve one scripted autopilot on ``tcp:127.0.0.1:PORT`` from a thread."""

    def __init__(self, script: PeerScript | None = None) -> None:
        self.script = script or PeerScript()
        self.conn: Any = mavutil.mavlink_connection(
            "tcpin:127.0.0.1:0", source_system=self.script.sysid, source_component=1
        )
        self.conn.mav = mavlink2.MAVLink(self.conn, srcSystem=self.script.sysid, srcComponent=1)
        self.conn.WIRE_PROTOCOL_VERSION = "2.0"
        self.conn.first_byte = False
        self.port = self.conn.listen.getsockname()[1]
        self.url = f"tcp:127.0.0.1:{self.port}"
        self.stored: dict[int, list[Any]] = {0: [], 1: [], 2: []}
        self.received: list[Any] = []
        self.armed = False
        self.custom_mode = 0
        # Further vehicles behind the same socket (as behind one radio): own encoder each.
        self.others = {
            sid: mavlink2.MAVLink(self.conn, srcSystem=sid, srcComponent=1)
            for sid in self.script.other_sysids
        }
        self.other_modes = dict.fromkeys(self.script.other_sysids, 0)
        self.paused = threading.Event()  # while set: no heartbeats, no answers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._upload: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name="fake-autopilot", daemon=True)

    def start(self) -> FakeAutopilot:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        with contextlib.suppress(Exception):
            self.conn.close()

    def __enter__(self) -> FakeAutopilot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_client(self) -> None:
        """Close the accepted TCP connection, as a radio or cable would."""
        with self._lock:
            if self.conn.port is not None:
                with contextlib.suppress(OSError):
                    self.conn.port.close()
                self.conn.port = None
                self.conn.fd = self.conn.listen.fileno()

    def say(self, name: str, *args: Any) -> None:
        """Send one message now (as this autopilot), e.g. ``say("statustext", 6, b"...")``."""
        self._send(name, *args)

    # -- loop ------------------------------------------------------------------------------

    def _send(self, name: str, *args: Any) -> None:
        with self._lock:
            if self.conn.port is None:
                return
            with contextlib.suppress(OSError):
                getattr(self.conn.mav, name + "_send")(*args)

    def _heartbeat(self) -> None:
        base = mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.armed:
            base |= mavlink2.MAV_MODE_FLAG_SAFETY_ARMED
        self._send(
            "heartbeat",
            self.script.mav_type,
            mavlink2.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base,
            self.custom_mode,
            mavlink2.MAV_STATE_STANDBY,
        )

    def _others(self) -> None:
        with self._lock:
            if self.conn.port is None:
                return
            for sid, enc in self.others.items():
                with contextlib.suppress(OSError):
                    enc.heartbeat_send(
                        mavlink2.MAV_TYPE_GROUND_ROVER,
                        mavlink2.MAV_AUTOPILOT_ARDUPILOTMEGA,
                        mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                        self.other_modes[sid],
                        mavlink2.MAV_STATE_STANDBY,
                    )

    def _state(self) -> None:
        lat, lon, alt = self.script.position
        boot_ms = int((time.monotonic() % 1e6) * 1000)
        self._send(
            "global_position_int",
            boot_ms,
            round(lat * 1e7),
            round(lon * 1e7),
            round(alt * 1000),
            0,
            300,
            400,
            0,
            9000,
        )
        self._send("sys_status", 0, 0, 0, 500, 12400, 1500, 87, 0, 0, 0, 0, 0, 0)

    def _run(self) -> None:
        next_hb = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_hb and not self.paused.is_set():
                self._heartbeat()
                self._state()
                self._others()
                next_hb = now + self.script.heartbeat_s
            try:
                with self._lock:
                    msg = self.conn.recv_msg()
            except OSError:
                self.drop_client()
                msg = None
            if msg is None:
                time.sleep(0.002)
                continue
            if msg.get_type() == "BAD_DATA" or self.paused.is_set():
                continue
            self.received.append(msg)
            if not self.script.silent:
                self._handle(msg)

    # -- protocol --------------------------------------------------------------------------

    def _ack(self, mission_type: int, result: int) -> None:
        self._send("mission_ack", 255, 190, result, mission_type)

    def _request(self, seq: int, mission_type: int) -> None:
        name = "mission_request" if self.script.legacy_requests else "mission_request_int"
        self._send(name, 255, 190, seq, mission_type)

    def _handle(self, msg: Any) -> None:
        t = msg.get_type()
        s = self.script
        target = getattr(msg, "target_system", None)
        if target in self.others:
            if t == "COMMAND_LONG" and msg.command == mavlink2.MAV_CMD_DO_SET_MODE:
                self.other_modes[target] = int(msg.param2)
                with self._lock:
                    self.others[target].command_ack_send(msg.command, 0)
                self._others()
            return
        if target not in (None, 0, s.sysid):
            return
        if t == "MISSION_COUNT":
            if s.upload_nack is not None:
                self._ack(msg.mission_type, s.upload_nack)
                return
            self._upload = {"type": msg.mission_type, "count": msg.count, "items": {}}
            if msg.count == 0:
                self.stored[msg.mission_type] = []
                self._ack(msg.mission_type, 0)
                return
            self._request(0, msg.mission_type)
        elif t in ("MISSION_ITEM_INT", "MISSION_ITEM") and self._upload is not None:
            up = self._upload
            up["items"][msg.seq] = msg
            got = len(up["items"])
            if s.cut_upload_after is not None and got >= s.cut_upload_after:
                return
            if got == up["count"]:
                self.stored[up["type"]] = [up["items"][i] for i in range(up["count"])]
                self._upload = None
                self._ack(msg.mission_type, mavlink2.MAV_MISSION_ACCEPTED)
                return
            nxt = msg.seq + 1
            if s.request_out_of_sequence and msg.seq == 0:
                nxt = 2
            self._request(nxt, up["type"])
        elif t == "MISSION_REQUEST_LIST":
            self._send(
                "mission_count", 255, 190, len(self.stored[msg.mission_type]), msg.mission_type
            )
        elif t in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            items = self.stored[msg.mission_type]
            if msg.seq >= len(items):
                self._ack(msg.mission_type, mavlink2.MAV_MISSION_INVALID_SEQUENCE)
                return
            it = items[msg.seq]
            x, y, z = it.x, it.y, it.z
            if it.get_type() == "MISSION_ITEM":
                x, y = round(x * 1e7), round(y * 1e7)
            if msg.seq == 0 and msg.mission_type == 0 and s.home_item is not None:
                x, y, z = round(s.home_item[0] * 1e7), round(s.home_item[1] * 1e7), s.home_item[2]
            self._send(
                "mission_item_int",
                255,
                190,
                msg.seq,
                it.frame,
                it.command,
                it.current,
                it.autocontinue,
                it.param1,
                it.param2,
                it.param3,
                it.param4,
                x,
                y,
                z,
                msg.mission_type,
            )
        elif t == "MISSION_CLEAR_ALL":
            self.stored[msg.mission_type] = []
            self._ack(msg.mission_type, mavlink2.MAV_MISSION_ACCEPTED)
        elif t == "COMMAND_LONG":
            self._command(msg)

    def _command(self, msg: Any) -> None:
        s = self.script
        cmd = msg.command
        if cmd in s.unsupported_commands:
            self._send("command_ack", cmd, mavlink2.MAV_RESULT_UNSUPPORTED)
            return
        if cmd in s.in_progress_commands:
            self._send("command_ack", cmd, mavlink2.MAV_RESULT_IN_PROGRESS)
            time.sleep(0.3)
        if cmd == mavlink2.MAV_CMD_COMPONENT_ARM_DISARM:
            if msg.param1 == 1 and s.arm_denied_reasons:
                for reason in s.arm_denied_reasons:
                    self._send("statustext", mavlink2.MAV_SEVERITY_CRITICAL, reason.encode())
                self._send("command_ack", cmd, mavlink2.MAV_RESULT_FAILED)
                return
            self.armed = msg.param1 == 1
        elif cmd == mavlink2.MAV_CMD_DO_SET_MODE:
            self.custom_mode = int(msg.param2)
        self._send("command_ack", cmd, mavlink2.MAV_RESULT_ACCEPTED)
        self._heartbeat()
