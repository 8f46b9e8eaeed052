"""ArduPilot SITL launcher: run `arducopter` / `ardurover` as the vehicle behind a MAVLink URL.

    with SitlVehicle("/opt/ardupilot/build/sitl/bin/arducopter", kind="copter",
                     home=(41.70, 123.40, 42.0), speedup=10) as sitl:
        url = sitl.url            # "tcp:127.0.0.1:PORT", ready to arm

The launcher writes a defaults file (the project's FIELDPATROL_DEFAULTS plus the frame and any
overrides) into a private working directory (SITL writes its eeprom and logs there), starts the
binary with the model, home, speed-up, system id and serial port, waits until the autopilot is
ready to arm (GPS fix, EKF position, pre-arm checks passing), and stops it by its process group
so that nothing is left behind. The binary's path is an argument: only `patrol` reads the
FIELDPATROL_SITL_COPTER / FIELDPATROL_SITL_ROVER environment variables.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path
from threading import Thread
from types import TracebackType
from typing import Any

from simulators.vehicle.errors import SimulatorError
from simulators.vehicle.params import FIELDPATROL_DEFAULTS
from simulators.vehicle.relay import TcpRelay

MODELS = {"copter": "quad", "rover": "rover"}
ENV_VARS = {"copter": "FIELDPATROL_SITL_COPTER", "rover": "FIELDPATROL_SITL_ROVER"}
# Parameters SITL needs beyond ArduPilot's own defaults for the model to fly.
# A simulated vehicle must also look calibrated, or the pre-arm checks refuse to arm
# ("3D Accel calibration needed"): small accelerometer offsets and scales, and compass
# offsets matching SITL's simulated magnetometer, as ArduPilot's own autotest defaults do.
_CALIBRATED: dict[str, float] = {
    **{f"INS_ACC{n}OFFS_{a}": 0.001 for n in ("", "2") for a in "XYZ"},
    **{f"INS_ACC{n}SCAL_{a}": 1.001 for n in ("", "2") for a in "XYZ"},
}
_COMPASS_OFS: dict[str, float] = {
    f"COMPASS_OFS{n}_{a}": v
    for n in ("", "2", "3")
    for a, v in zip("XYZ", (5.0, 13.0, -18.0), strict=True)
}
# The camera: ArduPilot 4.4+ rewrites CAM1_TYPE at its first boot from the pre-4.4 camera
# parameters, where a servo output assigned to the camera trigger (function 10) means a
# servo-triggered camera; a CAM1_TYPE from a defaults file alone is overwritten with 0.
_CAMERA: dict[str, float] = {"CAM1_TYPE": 1, "SERVO9_FUNCTION": 10}
_FRAME_DEFAULTS: dict[str, dict[str, float]] = {
    "copter": {
        "FRAME_CLASS": 1,
        "FRAME_TYPE": 1,
        "BATT_MONITOR": 4,
        **_CAMERA,
        **_CALIBRATED,
        **_COMPASS_OFS,
    },
    "rover": {"BATT_MONITOR": 4, **_CAMERA, **_CALIBRATED},
}
# ArduPilot's own SITL defaults for each model, relative to the source tree a binary was
# built in (build/sitl/bin/<binary>); loaded before ours when present, as sim_vehicle.py does.
_TREE_DEFAULTS = {"copter": "copter.parm", "rover": "rover.parm"}


def tree_defaults(binary: Path, kind: str) -> Path | None:
    """ArduPilot's autotest defaults for `kind` beside a binary built in its source tree."""
    tree = binary.resolve().parent.parent.parent.parent
    path = tree / "Tools" / "autotest" / "default_params" / _TREE_DEFAULTS[kind]
    return path if path.is_file() else None


# ArduPilot SITL simulates a 3-cell pack (SIM_BATT_VOLTAGE 12.6 V); the built-in simulator's
# 4-cell BATT_LOW_VOLT must not be written into SITL's defaults.
_NOT_FOR_SITL = ("FS_BATT_ENABLE", "BATT_LOW_VOLT")


class SitlError(SimulatorError):
    """SITL could not be started, or did not become ready; the message says what to do."""


def sitl_binary(kind: str, copter: str | None, rover: str | None) -> Path:
    """The SITL binary for `kind` from the configured paths, or a SitlError saying how to set it."""
    if kind not in MODELS:
        raise SitlError(f"vehicle kind {kind!r} has no SITL binary; use 'copter' or 'rover'")
    path = copter if kind == "copter" else rover
    var = ENV_VARS[kind]
    if not path:
        raise SitlError(
            f"no ArduPilot SITL binary for {kind}: set {var} to the path of the "
            f"{'arducopter' if kind == 'copter' else 'ardurover'} binary "
            "(ArduPilot: ./waf configure --board sitl && ./waf copter rover)"
        )
    binary = Path(path).expanduser()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise SitlError(f"{var}={path} is not an executable file; point it at the SITL binary")
    return binary


# SITL instance N binds fixed ports beside the ones it is given: UDP 5501+10N (RC input)
# and TCP 5762+10N / 5763+10N (its SERIAL2 and SERIAL3).
_INSTANCE_PORTS = (
    (socket.SOCK_DGRAM, 5501),
    (socket.SOCK_STREAM, 5762),
    (socket.SOCK_STREAM, 5763),
)
MAX_INSTANCES = 200


def _ports_free(instance: int) -> bool:
    for kind, base in _INSTANCE_PORTS:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", base + 10 * instance))
            except OSError:
                return False
    return True


def claim_instance() -> tuple[int, Any]:
    """A SITL instance number whose ports are free, held by an exclusive lock file until
    the returned handle is closed (so that two launchers starting at once never pick the
    same one)."""
    lock_dir = Path(tempfile.gettempdir()) / "fieldpatrol-sitl-instances"
    lock_dir.mkdir(exist_ok=True)
    for instance in range(MAX_INSTANCES):
        handle = open(lock_dir / f"{instance}.lock", "w")  # noqa: SIM115  (held while SITL runs)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if _ports_free(instance):
            return instance, handle
        handle.close()
    raise SitlError(
        f"no free ArduPilot SITL instance among {MAX_INSTANCES}: their ports are all in use"
    )


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_defaults(path: Path, kind: str, sysid: int, overrides: dict[str, float]) -> Path:
    """Write an ArduPilot .parm defaults file: `NAME VALUE` per line."""
    values: dict[str, float] = {}
    values.update(_FRAME_DEFAULTS[kind])
    values.update(FIELDPATROL_DEFAULTS[kind])
    values["SYSID_THISMAV"] = sysid
    for name in _NOT_FOR_SITL:
        # FS_BATT_ENABLE is a Copter 3.x name ArduPilot 4 does not know (BATT_FS_LOW_ACT is).
        values.pop(name, None)
    values.update({k: v for k, v in overrides.items() if k != "FS_BATT_ENABLE"})
    path.write_text("".join(f"{name} {value:g}\n" for name, value in sorted(values.items())))
    return path


class SitlVehicle:
    """One ArduPilot SITL process, reachable at `.url` once `start()` returns."""

    def __init__(
        self,
        binary: str | Path,
        kind: str = "copter",
        home: tuple[float, float, float] = (41.7, 123.4, 42.0),
        speedup: float = 1.0,
        sysid: int = 1,
        port: int = 0,
        instance: int | None = None,
        params: dict[str, float] | None = None,
        model: str | None = None,
        workdir: str | Path | None = None,
        ready_timeout: float = 120.0,
        heading_deg: float = 0.0,
        relay: bool = True,
    ) -> None:
        if kind not in MODELS:
            raise SitlError(f"vehicle kind {kind!r} is not simulated; use 'copter' or 'rover'")
        if not 0 < speedup <= 1000:
            raise SitlError(f"speedup {speedup!r} is out of range; use a number in (0, 1000]")
        if not 1 <= sysid <= 255:
            raise SitlError(f"sysid {sysid!r} is out of range; use 1..255")
        self.binary = Path(binary)
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise SitlError(f"SITL binary {binary} is not an executable file")
        self.kind = kind
        self.home = home
        self.speedup = speedup
        self.sysid = sysid
        self.port = port
        # None: claim a free instance at start (its fixed ports must not collide with
        # another SITL on this machine, e.g. parallel test workers).
        self._instance_arg = instance
        self.instance = sysid - 1 if instance is None else instance
        self._instance_lock: Any = None
        self.params = dict(params or {})
        self.model = model or MODELS[kind]
        self.ready_timeout = ready_timeout
        self.heading_deg = heading_deg
        self._workdir_arg = Path(workdir) if workdir else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._output: deque[str] = deque(maxlen=40)
        self._reader: Thread | None = None
        self.use_relay = relay
        self.relay: TcpRelay | None = None
        self.control_port = 0
        self.direct_url = ""
        self.faults = SitlFaults(self)

    # ------------------------------------------------------------------ lifecycle

    def command_line(self) -> list[str]:
        lat, lon, alt = self.home
        assert self.workdir is not None
        ours = self.workdir / f"{self.kind}.parm"
        upstream = tree_defaults(self.binary, self.kind)
        # Later files override earlier ones: ours (the site's and the test's) win.
        defaults = f"{upstream},{ours}" if upstream else str(ours)
        return [
            str(self.binary),
            "--model",
            self.model,
            "--home",
            f"{lat:.7f},{lon:.7f},{alt:.2f},{self.heading_deg:g}",
            "--speedup",
            f"{self.speedup:g}",
            "--synthetic-clock",
            "--wipe",
            "--instance",
            str(self.instance),
            "--sysid",
            str(self.sysid),
            "--defaults",
            str(defaults),
            "--serial0",
            f"tcp:{self.port}",
            # A second MAVLink port for the launcher's own use (fault injection), since the
            # first takes one client: the ground station under test.
            "--serial1",
            f"tcp:{self.control_port}",
        ]

    def start(self) -> str:
        """Start SITL and wait until it is ready to arm; returns the connection URL."""
        if self.proc is not None:
            return self.url
        if self._workdir_arg is not None:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"fieldpatrol-sitl-{self.kind}-")
            self.workdir = Path(self._tmp.name)
        if self._instance_arg is None:
            self.instance, self._instance_lock = claim_instance()
        if self.port == 0:
            self.port = free_tcp_port()
        if self.control_port == 0:
            self.control_port = free_tcp_port()
        write_defaults(self.workdir / f"{self.kind}.parm", self.kind, self.sysid, self.params)
        self.direct_url = f"tcp:127.0.0.1:{self.port}"
        self.url = self.direct_url
        try:
            self.proc = subprocess.Popen(
                self.command_line(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        except OSError as exc:
            self._cleanup_dir()
            raise SitlError(f"cannot start {self.binary}: {exc.strerror}") from exc
        self._reader = Thread(target=self._read_output, daemon=True, name="sitl-output")
        self._reader.start()
        try:
            self._wait_ready(self.ready_timeout)
            if self.use_relay:
                # Clients connect through a relay that can cut the link (faults.link_loss).
                self.relay = TcpRelay(self.port)
                self.url = self.relay.start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _read_output(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        for raw in proc.stdout:
            self._output.append(raw.decode("utf-8", "replace").rstrip())

    @property
    def output_tail(self) -> str:
        return "\n".join(self._output)

    def _check_alive(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is not None:
            # The process is gone but its last lines may still be in the pipe: let the
            # reader reach end-of-file (bounded) so the error carries them.
            if self._reader is not None:
                self._reader.join(timeout=2.0)
            raise SitlError(
                f"SITL {self.binary.name} exited with code {proc.returncode} before it was "
                f"ready; its last output:\n{self.output_tail}"
            )

    def _wait_port(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.1)
        raise SitlError(f"SITL did not open port {self.port} in time")

    def _wait_ready(self, timeout: float) -> None:
        """Until SYS_STATUS reports the pre-arm checks passing and the EKF has a position."""
        from pymavlink.dialects.v20 import ardupilotmega as mavlink2

        from simulators.vehicle.gcs import GroundStation

        deadline = time.monotonic() + timeout
        self._wait_port(deadline)
        gcs = GroundStation(
            self.direct_url,
            target_system=self.sysid,
            timeout=max(1.0, timeout),
            request_streams=True,
        )
        try:
            prearm = mavlink2.MAV_SYS_STATUS_PREARM_CHECK
            good = mavlink2.EKF_POS_HORIZ_ABS | mavlink2.EKF_PRED_POS_HORIZ_ABS
            ekf_ok = prearm_ok = False
            while not (ekf_ok and prearm_ok):
                self._check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SitlError(
                        f"SITL not ready to arm within {timeout:.0f} s "
                        f"(EKF position {'ok' if ekf_ok else 'missing'}, pre-arm checks "
                        f"{'passing' if prearm_ok else 'failing'}); last texts: {gcs.texts[-5:]}"
                    )
                try:
                    msg = gcs.recv(("SYS_STATUS", "EKF_STATUS_REPORT"), timeout=min(left, 2.0))
                except TimeoutError:
                    continue
                if msg.get_type() == "SYS_STATUS":
                    prearm_ok = bool(msg.onboard_control_sensors_health & prearm)
                else:
                    ekf_ok = (msg.flags & good) == good
        finally:
            gcs.close()

    def stop(self, timeout: float = 5.0) -> None:
        """End the SITL process group (SIGTERM, then SIGKILL) and remove the temporary files."""
        self.faults.close()
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=timeout)
            # Children that outlived the leader would still be in its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if self._reader is not None:
                self._reader.join(timeout=timeout)
            if proc.stdout is not None:
                proc.stdout.close()
            self.proc = None
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._instance_lock is not None:
            self._instance_lock.close()  # releases the claim on the instance's ports
            self._instance_lock = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def __enter__(self) -> SitlVehicle:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


#: SITL's GPS switch as (name, value when lost, value when restored): current ArduPilot has
#: SIM_GPS1_ENABLE (SIM_GPS_DISABLE was removed when the GPS sim params moved to SIM_GPSn_);
#: older builds only have SIM_GPS_DISABLE.
GPS_SWITCHES: tuple[tuple[str, float, float], ...] = (
    ("SIM_GPS1_ENABLE", 0.0, 1.0),
    ("SIM_GPS_DISABLE", 1.0, 0.0),
)


class SitlFaults:
    """The built-in simulator's `faults` interface, for SITL: SITL's own SIM_* parameters set
    over the launcher's second MAVLink port, and the link cut in the relay."""

    def __init__(self, sitl: SitlVehicle) -> None:
        self._sitl = sitl
        self._gcs: Any = None

    def _station(self) -> Any:
        if self._gcs is None:
            from simulators.vehicle.gcs import GroundStation

            url = f"tcp:127.0.0.1:{self._sitl.control_port}"
            self._gcs = GroundStation(url, target_system=self._sitl.sysid, source_system=254)
        return self._gcs

    def _set(self, name: str, value: float) -> None:
        self._station().param_set(name, value)

    def close(self) -> None:
        if self._gcs is not None:
            self._gcs.close()
            self._gcs = None

    def link_loss(self, duration_s: float | None = None) -> None:
        """Cut the relayed link for `duration_s` simulated seconds (None: until restored)."""
        relay = self._sitl.relay
        if relay is None:
            raise SitlError("link loss needs the relay: start SitlVehicle with relay=True")
        relay.cut(None if duration_s is None else duration_s / self._sitl.speedup)

    def restore_link(self) -> None:
        if self._sitl.relay is not None:
            self._sitl.relay.restore()

    def gps_loss(self, lost: bool = True) -> None:
        """Switch SITL's simulated GPS off (or back on), under either ArduPilot's name."""
        for name, off, on in GPS_SWITCHES:
            try:
                self._set(name, off if lost else on)
                return
            except TimeoutError:
                continue  # not this ArduPilot version's name: it never answers for it
        raise SitlError(
            "gps_loss: SITL answered for none of "
            + ", ".join(name for name, _, _ in GPS_SWITCHES)
            + "; is the second MAVLink port connected?"
        )

    def low_battery(self, remaining_pct: float = 8.0) -> None:
        """Leave the pack `remaining_pct` of its charge, below BATT_LOW_MAH.

        SITL's motors lose thrust with the pack's voltage, so sagging SIM_BATT_VOLTAGE below
        BATT_LOW_VOLT makes a copter sink where it is instead of flying home. The pack is
        made smaller instead: BATT_CAPACITY such that what it has used leaves
        `remaining_pct`, and BATT_LOW_MAH above what is left, which ArduPilot's capacity
        failsafe acts on at once (BATT_FS_LOW_ACT)."""
        from pymavlink.dialects.v20 import ardupilotmega as m

        gcs = self._station()
        gcs.command(m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_BATTERY_STATUS)
        status = gcs.recv("BATTERY_STATUS", timeout=5)
        used = max(0.0, float(status.current_consumed))  # mAh; -1 when not measured
        left = min(max(remaining_pct, 0.0), 99.0) / 100.0
        capacity = max(used / (1.0 - left), used + 1.0)
        self._set("BATT_CAPACITY", math.ceil(capacity))
        self._set("BATT_LOW_MAH", math.ceil(capacity * left + max(1.0, 0.05 * capacity)))

    def motor_failure(self) -> None:
        """SITL's physics: motor 1 gives no thrust (a quad then cannot hold attitude)."""
        self._set("SIM_ENGINE_MUL", 0.0)
        self._set("SIM_ENGINE_FAIL", 1)

    def wind(self, speed_m_s: float, from_deg: float = 0.0, turbulence: float = 0.0) -> None:
        self._set("SIM_WIND_SPD", speed_m_s)
        self._set("SIM_WIND_DIR", from_deg)
        self._set("SIM_WIND_TURB", turbulence)


#: The name the telemetry tests know the launcher by.
SitlProcess = SitlVehicle


def which_sitl(name: str) -> Path | None:
    """A SITL binary on PATH (`arducopter`, `ardurover`), for diagnostics only."""
    found = shutil.which(name)
    return Path(found) if found else None
