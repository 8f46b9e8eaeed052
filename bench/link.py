"""Benchmark of the MAVLink vehicle link (telemetry.link); prints one JSON object.

- upload_s: 700-item mission uploaded to the built-in simulator (COUNT to ACK), our link;
  upload_verify_s: the same with the read-back verification;
- mavproxy_upload_s: the same file uploaded by MAVProxy (PyPI) to a fresh simulator, timed
  from its ``wp load`` command to its "Loaded 700 waypoints in" line (baseline);
- parse_msgs_per_s: MAVLink messages parsed and dispatched per second, socket to subscriber;
- ten_vehicles_cpu_pct: CPU of the ground side (one core = 100) while 10 simulated vehicles,
  in another process, each stream position and attitude at 10 Hz to 10 ``Vehicle`` objects.

Run: .venv/bin/python bench/link.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from missions.formats import MissionFile, save_mission  # noqa: E402
from missions.items import MAV_CMD_NAV_WAYPOINT, MAV_FRAME_GLOBAL, make_item, renumber  # noqa: E402
from simulators.vehicle import SimulatorServer  # noqa: E402
from telemetry.link import Link, Vehicle  # noqa: E402

HOME = (41.7, 123.4, 42.0)
N_ITEMS = 700


def mission(n: int = N_ITEMS) -> list:
    items = [make_item(MAV_CMD_NAV_WAYPOINT, HOME[1], HOME[0], HOME[2], frame=MAV_FRAME_GLOBAL)]
    items += [
        make_item(MAV_CMD_NAV_WAYPOINT, HOME[1] + 1e-5 * i, HOME[0] + 1e-5 * (i % 50), 30.0)
        for i in range(n - 1)
    ]
    return renumber(items)


async def our_upload() -> dict[str, float]:
    with SimulatorServer(kind="copter", home=HOME, speedup=1.0) as sim:
        async with Vehicle.connect(sim.url, timeout=10) as v:
            items = mission()
            t0 = time.perf_counter()
            await v.mission.upload(items, verify=False)
            upload_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            await v.mission.upload(items, verify=True)
            verify_s = time.perf_counter() - t0
    return {
        "upload_s": round(upload_s, 3),
        "upload_items_per_s": round(N_ITEMS / upload_s, 1),
        "upload_verify_s": round(verify_s, 3),
    }


def mavproxy_upload() -> float | None:
    exe = Path(sys.executable).with_name("mavproxy.py")
    if not exe.exists():
        return None
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimulatorServer(kind="copter", home=HOME, speedup=1.0) as sim,
    ):
        path = save_mission(Path(tmp) / "m.waypoints", MissionFile(items=mission()))
        proc = subprocess.Popen(
            [str(exe), f"--master={sim.url}", "--default-modules=wp", f"--state-basedir={tmp}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp,
        )
        assert proc.stdin is not None and proc.stdout is not None
        result: list[float] = []

        def read() -> None:
            t0 = 0.0
            for line in proc.stdout:  # type: ignore[union-attr]
                if "online system" in line and not t0:
                    proc.stdin.write(f"wp load {path}\n")  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
                    t0 = time.perf_counter()
                if "waypoints in" in line and t0:
                    result.append(time.perf_counter() - t0)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(60)
        proc.kill()
        proc.wait(5)
    return round(result[0], 3) if result else None


def _message_stream(count: int) -> bytes:
    from pymavlink.dialects.v20 import ardupilotmega as m

    mav = m.MAVLink(None, srcSystem=1, srcComponent=1)
    msgs = [
        m.MAVLink_global_position_int_message(
            1000, 417000000, 1234000000, 60000, 20000, 100, 50, 0, 9000
        ),
        m.MAVLink_attitude_message(1000, 0.01, 0.02, 1.5, 0.0, 0.0, 0.0),
        m.MAVLink_vfr_hud_message(5.0, 5.0, 90, 50, 20.0, 0.1),
        m.MAVLink_sys_status_message(0, 0, 0, 500, 12400, 1500, 87, 0, 0, 0, 0, 0, 0),
        m.MAVLink_heartbeat_message(2, 3, 217, 3, 4, 3),
    ]
    return b"".join(bytes(msgs[i % len(msgs)].pack(mav)) for i in range(count))


async def parse_rate(count: int = 100_000) -> float:
    data = _message_stream(count)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(data)
        time.sleep(30)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    link = Link(f"tcp:127.0.0.1:{port}")
    sub = link.subscribe(maxlen=count + 10)
    got = 0
    await link.open()
    t0 = time.perf_counter()
    try:
        while got < count:
            await sub.get(10.0)
            got += 1
    finally:
        elapsed = time.perf_counter() - t0
        await link.close()
        server.close()
    return round(got / elapsed)


FLEET = """
import sys, time
sys.path.insert(0, {root!r})
from simulators.vehicle import SimulatorServer
sims = [SimulatorServer(kind="copter", home=(41.7 + i * 0.001, 123.4, 42.0), sysid=i + 1)
        for i in range(10)]
print(" ".join(s.start() for s in sims), flush=True)
sys.stdin.read()
for s in sims:
    s.stop()
"""


async def ten_vehicles(window_s: float = 10.0) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FLEET.format(root=str(ROOT))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    urls = proc.stdout.readline().split()
    counts = [0] * len(urls)
    vehicles: list[Vehicle] = []
    try:
        for url in urls:
            vehicles.append(await Vehicle.connect(url, timeout=20))
        for v in vehicles:
            await v.telemetry.set_rate("GLOBAL_POSITION_INT", 10)
            await v.telemetry.set_rate("ATTITUDE", 10)

        async def consume(i: int, v: Vehicle) -> None:
            async for _ in v.telemetry.position():
                counts[i] += 1

        tasks = [asyncio.create_task(consume(i, v)) for i, v in enumerate(vehicles)]
        await asyncio.sleep(2.0)  # let the rates settle
        start_counts = sum(counts)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(window_s)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        received = sum(counts) - start_counts
        msgs = sum(v.link.messages_received for v in vehicles)
        for t in tasks:
            t.cancel()
    finally:
        for v in vehicles:
            await v.close()
        proc.stdin.close()
        proc.wait(20)
    return {
        "ten_vehicles_cpu_pct": round(100 * cpu / wall, 1),
        "ten_vehicles_positions_per_s": round(received / wall, 1),
        "ten_vehicles_total_msgs": msgs,
    }


async def main() -> dict[str, object]:
    out: dict[str, object] = {"bench": "link", "items": N_ITEMS}
    out.update(await our_upload())
    out["mavproxy_upload_s"] = mavproxy_upload()
    out["parse_msgs_per_s"] = await parse_rate()
    out.update(await ten_vehicles())
    out["machine"] = (
        f"{os.cpu_count()} cores {platform.machine()}, python {platform.python_version()}"
    )
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
