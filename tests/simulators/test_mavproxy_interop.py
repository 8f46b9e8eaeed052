"""Interoperation with real MAVLink software: MAVProxy (from PyPI) connected to the built-in
simulator loads, lists and downloads waypoints and fence, changes mode and sets a parameter —
the same exchanges it has with ArduPilot."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.vehicle import SimulatorServer

HOME = (41.7, 123.4, 42.0)
MAVPROXY = Path(sys.executable).with_name("mavproxy.py")

WAYPOINTS = """QGC WPL 110
0\t1\t0\t16\t0\t0\t0\t0\t41.700000\t123.400000\t42.000000\t1
1\t0\t3\t22\t0\t0\t0\t0\t0\t0\t30.000000\t1
2\t0\t3\t16\t0\t0\t0\t0\t41.701000\t123.400000\t30.000000\t1
3\t0\t3\t16\t0\t0\t0\t0\t41.701000\t123.401000\t35.000000\t1
4\t0\t3\t20\t0\t0\t0\t0\t0\t0\t0\t1
"""

FENCE = "QGC WPL 110\n" + "".join(
    f"{i}\t0\t0\t5001\t4\t0\t0\t0\t{lat}\t{lon}\t0\t1\n"
    for i, (lat, lon) in enumerate(
        [(41.699, 123.399), (41.699, 123.402), (41.702, 123.402), (41.702, 123.399)]
    )
)


class MavProxy:
    """MAVProxy in a subprocess, driven line by line on stdin, its output read by a thread."""

    def __init__(self, url: str, cwd: Path) -> None:
        exe = str(MAVPROXY) if MAVPROXY.exists() else shutil.which("mavproxy.py")
        assert exe, "MAVProxy is a dev dependency: pip install -e '.[dev]'"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                exe,
                "--master",
                url,
                "--no-state",
                "--default-modules=wp,fence,param,mode,cmdlong",
            ],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def printed(self, pattern: str, timeout: float = 10.0) -> None:
        """Wait until any line so far (in whatever order) matches `pattern`."""
        rx = re.compile(pattern)
        if any(rx.search(line) for line in self.seen):
            return
        self.expect(pattern, timeout)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The next line matching `pattern` (lines before it are passed over)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"MAVProxy never printed /{pattern}/; got: {self.seen[-15:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = rx.search(line)
            if found:
                return found

    def close(self) -> None:
        if self.proc.poll() is None:
            # MAVProxy neither `exit`s nor handles SIGTERM promptly (its threads linger);
            # it holds no state we need, so end it outright.
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdin:
            self.proc.stdin.close()
        self._reader.join(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def mavproxy(tmp_path: Path) -> Iterator[tuple[MavProxy, SimulatorServer]]:
    (tmp_path / "wp.txt").write_text(WAYPOINTS)
    (tmp_path / "fence.txt").write_text(FENCE)
    with SimulatorServer(kind="copter", home=HOME, speedup=5) as sim:
        proxy = MavProxy(sim.url, tmp_path)
        try:
            proxy.expect(r"online system 1", timeout=20)
            yield proxy, sim
        finally:
            proxy.close()
    assert proxy.proc.returncode is not None  # no orphan MAVProxy


@pytest.mark.slow
def test_mavproxy_waypoints_fence_mode_param(
    mavproxy: tuple[MavProxy, SimulatorServer],
) -> None:
    proxy, sim = mavproxy
    proxy.send("wp load wp.txt")
    proxy.expect(r"Got MISSION_ACK: TYPE_MISSION: ACCEPTED")
    mission = sim.vehicle.mission
    assert [i.command for i in mission] == [16, 22, 16, 16, 20]
    assert mission[3].lat == pytest.approx(41.701) and mission[3].z == 35.0

    proxy.send("wp list")
    proxy.expect(r"Requesting 5 waypoints")
    proxy.expect(r"\b22 3 0\.0+ 0\.0+ 30\.0")
    proxy.expect(r"\b16 3 41\.7010000000 123\.4010000000 35\.0")

    proxy.send("fence load fence.txt")
    proxy.expect(r"Got MISSION_ACK: TYPE_FENCE: ACCEPTED")
    assert len(sim.vehicle.fence_items) == 4
    assert sim.vehicle.fence_geom.has_polygon

    proxy.send("fence list")
    proxy.expect(r"Requesting 4 fence items")
    proxy.expect(r"\b5001 0 41\.7020000000 123\.4020000000")

    # GUIDED needs a position estimate, as on ArduPilot; a pilot waits for it, and so
    # do we (on a loaded machine the mission traffic above can finish first).
    assert sim.wait_until(lambda v: v.ekf_ok and v.gps_fix, timeout=30)
    proxy.send("mode GUIDED")
    proxy.expect(r"Mode GUIDED")
    assert sim.vehicle.mode == "GUIDED"
    # MAVProxy sets only parameters it has fetched: wait for its start-up fetch to finish.
    proxy.printed(r"Received \d+ parameters", timeout=20)
    proxy.send("param set WPNAV_SPEED 800")
    assert sim.wait_until(lambda v: v.params["WPNAV_SPEED"] == 800.0, timeout=5)
    proxy.send("param show WPNAV_SPEED")
    proxy.expect(r"WPNAV_SPEED\s+800")
