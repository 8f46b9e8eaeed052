"""Benchmark: N simulated copters at speed-up K flying surveys at once, then frame rendering.

Each copter is a `SimulatorServer` (its own thread and TCP port) flown by its own blocking
ground station (a thread of this process), which uploads the survey the planner makes for the
example site, arms in AUTO and reads every message until the time is up. Reported: the
real-time factor each simulator achieved (simulated seconds per wall-clock second, against the
requested speed-up), CPU use of the whole process (simulators and ground stations together,
sharing one GIL), MAVLink message rates, camera captures; then frames per second of the
synthetic camera rendering the captured poses.

    .venv/bin/python bench/sim.py [--vehicles 10] [--speedup 20] [--seconds 15]

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.vehicle import SimulatorServer
from simulators.vehicle.gcs import GroundStation, Item

LOW_RATES = {  # Hz of simulated time
    M.MAVLINK_MSG_ID_ATTITUDE: 1.0,
    M.MAVLINK_MSG_ID_VFR_HUD: 1.0,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 2.0,
    M.MAVLINK_MSG_ID_SYSTEM_TIME: 0.2,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: 0.5,
}
SITE = Path(__file__).resolve().parents[1] / "examples" / "sites" / "shenyang-hunhe.geojson"


def survey() -> tuple[list[Item], list[Item], tuple[float, float, float], Any]:
    """The planner's survey of the example site, as upload items; home at its launch point."""
    from missions.camera import CameraModel
    from missions.site import load_site
    from missions.survey import plan_survey

    site = load_site(SITE)
    plan = plan_survey(site, CameraModel.default(), altitude_agl_m=50, enforce_endurance=False)

    def convert(items: list[Any]) -> list[Item]:
        return [
            Item(
                i.command,
                i.lat_deg,
                i.lon_deg,
                i.alt_m,
                i.param1,
                i.param2,
                i.param3,
                i.param4,
                frame=i.frame,
                mission_type=i.mission_type,
            )
            for i in items
        ]

    lon, lat = site.launch
    return convert(plan.items), convert(plan.fence), (lat, lon, 42.0), site


def fly(url: str, sysid: int, items: list[Item], fence: list[Item], seconds: float,
        out: dict[str, Any]) -> None:  # fmt: skip
    gcs = GroundStation(url, target_system=sysid, timeout=60)
    try:
        # A fleet station asks for what it needs, as ground stations do over a radio: at ×20
        # the default rates would be ~600 messages a second per vehicle to parse.
        for msg_id, hz in LOW_RATES.items():
            gcs.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, msg_id, 1e6 / hz)
        out["mission_ack"] = gcs.upload(items)
        out["fence_ack"] = gcs.upload(fence, M.MAV_MISSION_TYPE_FENCE)
        gcs.wait_ready()
        gcs.param_set("FENCE_ENABLE", 1)
        gcs.set_mode("AUTO")
        out["arm"] = gcs.arm()
        # Fly for the asked time from take-off, however long setting up took on a busy machine.
        stop_at = time.time() + seconds
        received = 0
        captures: list[tuple[float, ...]] = []
        while time.time() < stop_at:
            msg = gcs.conn.recv_match(blocking=True, timeout=0.2)
            if msg is None:
                continue
            received += 1
            if msg.get_type() == "CAMERA_FEEDBACK":
                captures.append(
                    (msg.lat, msg.lng, msg.alt_msl, msg.alt_rel, msg.roll, msg.pitch, msg.yaw)
                )
        out["received"] = received
        out["captures"] = captures
    except Exception as exc:  # reported in the JSON rather than hiding the other vehicles
        out["error"] = repr(exc)
    finally:
        gcs.close()


def fleet(urls: list[str], items: list[Item], fence: list[Item], seconds: float,
          results: Any) -> None:  # fmt: skip
    """The ground stations, in a process of their own (one thread each)."""
    outs: list[dict[str, Any]] = [{} for _ in urls]
    threads = [
        threading.Thread(target=fly, args=(url, i + 1, items, fence, seconds, out), daemon=True)
        for i, (url, out) in enumerate(zip(urls, outs, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    results.put(outs)


def render_rate(site: Any, captures: list[tuple[float, ...]], frames: int) -> dict[str, Any]:
    try:
        from missions.camera import CameraModel
        from simulators.camera import SyntheticCamera
        from simulators.world import generate_world
        from telemetry.contract import CameraPose
    except ImportError as exc:
        return {"frames_per_s": None, "reason": f"camera not available: {exc}"}
    world = generate_world(site, seed=1)
    camera = SyntheticCamera(world, CameraModel.default(), site_frame=site.frame, seed=1)
    poses = [
        CameraPose(
            time=datetime.now(UTC),
            lat=lat / 1e7,
            lon=lng / 1e7,
            alt_agl_m=rel,
            alt_amsl_m=msl,
            roll_deg=roll,
            pitch_deg=pitch,
            yaw_deg=yaw,
        )
        for lat, lng, msl, rel, roll, pitch, yaw in captures[:frames]
    ]
    if not poses:
        return {"frames_per_s": None, "reason": "no captures to render"}
    camera.render(poses[0])  # warm-up (tile caches)
    t0 = time.perf_counter()
    for pose in poses:
        camera.render(pose)
    elapsed = time.perf_counter() - t0
    return {
        "frames": len(poses),
        "frames_per_s": round(len(poses) / elapsed, 1),
        "ms_per_frame": round(1000 * elapsed / len(poses), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=10)
    ap.add_argument("--speedup", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=15.0, help="wall-clock time from take-off")
    ap.add_argument("--frames", type=int, default=20, help="frames to render afterwards")
    args = ap.parse_args()

    items, fence, home, site = survey()
    sims = [
        SimulatorServer(kind="copter", home=home, sysid=i + 1, speedup=args.speedup, seed=i)
        for i in range(args.vehicles)
    ]
    cpu0 = time.process_time()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    urls = [sim.start() for sim in sims]
    # The ground stations run in another process, as they would on a real ground: parsing
    # MAVLink in this process would compete with the simulators for the GIL.
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=fleet, args=(urls, items, fence, args.seconds, queue))
    child.start()
    results: list[dict[str, Any]] = queue.get(timeout=args.seconds + 240)
    child.join(30)
    wall = time.monotonic() - wall0
    sim_times = [sim.sim_time_s for sim in sims]
    sent = sum(sim.messages_sent for sim in sims)
    steps = sum(sim.steps for sim in sims)
    progress = [sim.vehicle.current_seq for sim in sims]
    cpu = time.process_time() - cpu0
    for sim in sims:
        sim.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    gcs_cpu = children.ru_utime + children.ru_stime
    rtf = [t / wall for t in sim_times]
    captures = [c for r in results for c in r.get("captures", [])]
    doc = {
        "benchmark": "sim",
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
        },
        "vehicles": args.vehicles,
        "speedup_requested": args.speedup,
        "wall_s": round(wall, 2),
        "real_time_factor": {
            "mean": round(sum(rtf) / len(rtf), 2),
            "min": round(min(rtf), 2),
            "max": round(max(rtf), 2),
            "of_requested_pct": round(100 * min(rtf) / args.speedup, 1),
        },
        "simulated_s_total": round(sum(sim_times), 1),
        "simulators_cpu_s": round(cpu, 2),
        "simulators_cpu_cores": round(cpu / wall, 2),
        "cpu_us_per_sim_step": round(1e6 * cpu / max(1, steps), 1),
        "ground_stations_cpu_cores": round(gcs_cpu / wall, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "voluntary_ctx_switches": usage.ru_nvcsw - usage0.ru_nvcsw,
        "mavlink_sent_per_s": round(sent / wall),
        "mavlink_received_by_gcs_per_s": round(sum(r.get("received", 0) for r in results) / wall),
        "mission_items": len(items),
        "mission_progress_seq": progress,
        "camera_captures": len(captures),
        "errors": [r["error"] for r in results if "error" in r],
        "render": render_rate(site, captures, args.frames),
    }
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
