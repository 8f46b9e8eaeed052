"""The link over each transport kind: UDP (the simulator sending to us, as ArduPilot's
``--out``) and a serial line (a pseudo-terminal pair, as a USB telemetry radio shows up)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tty

from pymavlink.dialects.v20 import ardupilotmega as m

from telemetry.link import Vehicle


async def test_udp_simulator_sends_to_us() -> None:
    from simulators.vehicle import SimulatorServer

    with SimulatorServer(kind="rover", transport="udp", speedup=20.0) as sim:
        assert sim.url.startswith("udpin:")
        async with Vehicle.connect(sim.url, timeout=10) as v:
            assert v.state.is_rover
            await v.action.set_mode("HOLD")
            assert await v.param.get("FENCE_ACTION") >= 0
            got = await v.mission.download()
            assert isinstance(got, list)


class SerialRadio:
    """The far end of a pseudo-terminal: an autopilot answering heartbeats and modes."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.mav = m.MAVLink(self, srcSystem=7, srcComponent=1)
        self.mode = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def write(self, buf: bytes) -> None:
        os.write(self.master, buf)

    def _run(self) -> None:
        parser = m.MAVLink(None)
        next_hb = 0.0
        os.set_blocking(self.master, False)
        while not self._stop.is_set():
            if time.monotonic() >= next_hb:
                self.mav.heartbeat_send(
                    m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA, 1, self.mode, 3
                )
                next_hb = time.monotonic() + 0.1
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                time.sleep(0.005)
                continue
            for msg in parser.parse_buffer(data) or []:
                if msg.get_type() == "COMMAND_LONG" and msg.command == m.MAV_CMD_DO_SET_MODE:
                    self.mode = int(msg.param2)
                    self.mav.command_ack_send(msg.command, m.MAV_RESULT_ACCEPTED)
                    next_hb = 0.0

    def __enter__(self) -> SerialRadio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)


async def test_serial_line() -> None:
    with SerialRadio() as radio:
        async with Vehicle.connect(f"serial:{radio.path}:57600", timeout=5) as v:
            assert v.sysid == 7
            await v.action.set_mode("LOITER")
            assert radio.mode == 5 and v.state.mode == "LOITER"


async def test_message_rates_follow_set_message_interval() -> None:
    from simulators.vehicle import SimulatorServer

    async def count(v: Vehicle, seconds: float) -> int:
        n = 0
        stream = v.telemetry.attitude()
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        try:
            while (left := end - loop.time()) > 0:
                try:
                    await asyncio.wait_for(anext(stream), left)
                except TimeoutError:
                    break
                n += 1
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return n

    with SimulatorServer(kind="copter", speedup=1.0) as sim:
        async with Vehicle.connect(sim.url, timeout=10) as v:
            await v.telemetry.set_rate("ATTITUDE", 25)
            await asyncio.sleep(0.2)
            fast = await count(v, 1.0)
            await v.telemetry.set_rate("ATTITUDE", 2)
            await asyncio.sleep(0.6)
            slow = await count(v, 1.0)
    assert 18 <= fast <= 30, fast
    assert slow <= 4, slow
