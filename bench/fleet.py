"""Benchmark of the ground side under a fleet; prints one JSON object.

How many simulated vehicles, each streaming telemetry at 5 Hz, the ground side sustains at
once before any telemetry sample is delayed more than 1 s on its way through it.

Set-up, for N = --start, --start + --step, ... up to --max (stopping at the first failure):

- vehicles (another process, as real vehicles are other machines): N built-in simulated
  copters (`SimulatorServer`, real time, wall-clock stamps) on their own MAVLink TCP ports,
  and their evidence: each vehicle sends one signed evidence item with a 20 kB frame every
  --evidence-every seconds through a durable outbox over MQTT;
- the ground (this process): a `patrol.ground.Ground` (SQLite, a private Mosquitto, the gateway
  ingest serving every vehicle), one `telemetry.link.Vehicle` per vehicle with the position
  stream at --hz, one `telemetry.mqtt_bridge.MqttBridge` per vehicle publishing it, the
  scheduler (`patrol.scheduler.Scheduler`, rescanning every second), and a live-view
  subscriber on `fieldpatrol/v1/+/+/telemetry` (what the web console's hub does).

A sample's delay is measured end to end, from the vehicle stamping it to the live view having
it: the vehicle-to-link part from GPS_RAW_INT.time_usec (the simulator's wall clock, streamed
at the same rate and through the same link as the position), then from the link dispatching
the position to the live subscriber receiving it. The view keeps the freshest state, and the
link's bounded queues drop the oldest samples of a consumer that falls behind: so a sample
counts as delivered when it or a newer sample of its vehicle reaches the view. N passes when,
over a --window-second window, no sample took more than --max-delay-s, none was never
delivered, and at least 98 % of the expected samples reached the links.

Figures: `vehicles_sustained` (largest N that passed), and per N the delays (p50, p99, max),
the samples received, the evidence ingested, the CPU of the ground process (one core = 100)
and of the vehicles' process. The machine's other load is in `load_average`: the ground and
the vehicles share its cores, so CPU figures say more than wall-clock ones on a busy machine.

Run: .venv/bin/python bench/fleet.py [--start 5 --step 5 --max 60 --window 15]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402

from gateway.ingest.broker import MosquittoProcess, free_port, write_plain_config  # noqa: E402
from patrol.config import Settings  # noqa: E402
from patrol.ground import Ground  # noqa: E402
from patrol.services import BrokerHandle  # noqa: E402
from telemetry.contract import TelemetryMessage  # noqa: E402
from telemetry.link import Vehicle  # noqa: E402
from telemetry.mqtt_bridge import MqttBridge  # noqa: E402

SITE = "bench-fleet"

VEHICLES = r"""
import json, sys, threading, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {edge!r})
from edge_load import make_item
from simulators.vehicle import SimulatorServer
from telemetry.outbox import Outbox
from telemetry.publisher import EvidencePublisher
from telemetry.signing import DeviceKey

n, port, every, tmp = {n}, {port}, {every}, {tmp!r}
sims = [SimulatorServer(kind="copter", home=(41.7 + i * 0.001, 123.4, 42.0), speedup=1.0,
                        wall_clock=True, seed=i) for i in range(n)]
urls = [s.start() for s in sims]
keys = [DeviceKey.generate() for _ in range(n)]
names = [f"bench-uav-{{i:03d}}" for i in range(n)]
print(json.dumps({{"urls": urls, "vehicles": names,
                   "keys": [k.public_key_bytes().hex() for k in keys]}}), flush=True)
outbox = Outbox(f"{{tmp}}/edge-outbox.sqlite", synchronous="NORMAL")
pub = EvidencePublisher(outbox, "127.0.0.1", port, "bench-fleet-edge", inflight=200)
pub.start()
stop = threading.Event()

def evidence():
    seq = 0
    while not stop.wait(every / n):
        i = seq % n
        outbox.add(*make_item(keys[i], names[i], seq // n, "fleet", 20000, site="{site}"))
        seq += 1

t = threading.Thread(target=evidence, daemon=True)
t.start()
sys.stdin.read()
stop.set()
t.join(5)
pub.stop(timeout=5)
outbox.close()
for s in sims:
    s.stop()
"""


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


class LiveView:
    """What the console's hub does: subscribe to every vehicle's telemetry; here it also notes,
    per vehicle, when each sample was published on the ground and when it arrived."""

    def __init__(self, port: int) -> None:
        #: vehicle -> [(ground publish time, receive time)], in arrival order
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-live")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 30)
        self.client.subscribe(f"fieldpatrol/v1/{SITE}/+/telemetry", qos=0)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        message = TelemetryMessage.model_validate_json(msg.payload)
        with self._lock:
            self.samples.setdefault(message.vehicle_id, []).append((message.time.timestamp(), now))

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def sample_delays(
    arrivals: dict[str, list[tuple[float, float]]],
    delivered: dict[str, list[tuple[float, float]]],
) -> tuple[list[float], int]:
    """Each position sample's delay from the vehicle to the live view, and how many never
    arrived. A telemetry view keeps the freshest state: a sample counts as delivered when it,
    or a newer sample of its vehicle, reaches the view (the link's bounded queues drop the
    oldest samples of a consumer that falls behind). `arrivals`: per vehicle, (time the link
    dispatched the sample, the link's vehicle-to-dispatch delay then); `delivered`: per
    vehicle, (time the bridge converted and published a sample, time the view received it)."""
    delays: list[float] = []
    missing = 0
    for vehicle, samples in arrivals.items():
        got = sorted(delivered.get(vehicle, []))
        published = [p for p, _ in got]
        # The earliest receipt among samples published at or after each time.
        earliest = [0.0] * len(got)
        best = float("inf")
        for i in range(len(got) - 1, -1, -1):
            best = min(best, got[i][1])
            earliest[i] = best
        for dispatched, link_delay in samples:
            i = bisect.bisect_left(published, dispatched)
            if i == len(got):
                missing += 1
                continue
            delays.append(earliest[i] - dispatched + link_delay)
    return sorted(delays), missing


async def ground_run(n: int, args: argparse.Namespace, port: int, tmp: Path) -> dict[str, Any]:
    from patrol.scheduler import Scheduler
    from patrol.scheduler.launcher import SimulatorLauncher

    home = tmp / f"home-{n}"
    settings = Settings.load({"FIELDPATROL_HOME": str(home)})
    broker = BrokerHandle("127.0.0.1", port, "configured", 5)
    (tmp / f"edge-{n}").mkdir(exist_ok=True)
    farm = subprocess.Popen(
        [
            sys.executable,
            "-c",
            VEHICLES.format(
                root=str(ROOT),
                edge=str(ROOT / "tests" / "evidence"),
                n=n,
                port=port,
                every=args.evidence_every,
                tmp=str(tmp / f"edge-{n}"),
                site=SITE,
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert farm.stdout is not None and farm.stdin is not None
    fleet = json.loads(farm.stdout.readline())
    vehicles: list[Vehicle] = []
    bridges: list[MqttBridge] = []
    link_delay: dict[str, float] = {}
    #: vehicle -> [(dispatch time, link delay)] of the position samples of the window
    arrivals: dict[str, list[tuple[float, float]]] = {}
    missing = 0
    link_delays: list[float] = []
    tasks: list[asyncio.Task[Any]] = []
    counting = False
    ground = Ground(settings, ingest_all=True, broker=broker, ingest_session_expiry_s=60)
    live: LiveView | None = None
    delays: list[float] = []
    received = 0
    published = 0
    positions = [0]  # GLOBAL_POSITION_INT messages the links received in the window
    scheduler_task = None
    try:
        ground.start()
        from gateway.devices import register_device

        with ground.sessions() as session:
            for name, key in zip(fleet["vehicles"], fleet["keys"], strict=True):
                register_device(session, name, bytes.fromhex(key))
            session.commit()
        scheduler = Scheduler(ground.sessions, SimulatorLauncher(), rescan_s=1.0)
        scheduler_task = asyncio.create_task(scheduler.run())
        live = LiveView(port)
        for url, name in zip(fleet["urls"], fleet["vehicles"], strict=True):
            v = await Vehicle.connect(url, timeout=30)
            vehicles.append(v)
            await v.telemetry.set_rate("GLOBAL_POSITION_INT", args.hz)
            await v.telemetry.set_rate("GPS_RAW_INT", args.hz)
            bridge = MqttBridge(
                v,
                site_id=SITE,
                vehicle_id=name,
                host="127.0.0.1",
                port=port,
                # No thinning here: every sample of the --hz stream goes out and is timed
                # (the bridge drops samples closer than 1/telemetry_hz, which would hide
                # a late one behind the next).
                telemetry_hz=1000.0,
            )
            await bridge.start()
            bridges.append(bridge)

            async def stamps(v: Vehicle = v, name: str = name) -> None:
                with v.link.subscribe(["GPS_RAW_INT"], v.sysid) as sub:
                    while True:
                        msg = await sub.get(30)
                        delay = time.time() - msg.time_usec / 1e6
                        link_delay[name] = delay
                        if counting:
                            link_delays.append(delay)

            tasks.append(asyncio.create_task(stamps()))

            def count_positions(msg: Any, name: str = name) -> None:
                if counting and msg.get_type() == "GLOBAL_POSITION_INT":
                    positions[0] += 1
                    arrivals.setdefault(name, []).append((time.time(), link_delay.get(name, 0.0)))

            v.link.dispatcher.add_listener(count_positions)
        await asyncio.sleep(args.warmup)
        counting = True
        cpu0, farm0, wall0 = time.process_time(), cpu_of(farm.pid), time.monotonic()
        start = time.time()
        published0 = sum(b.published["telemetry"] for b in bridges)
        await asyncio.sleep(args.window)
        published = sum(b.published["telemetry"] for b in bridges) - published0
        end = time.time()
        counting = False
        wall = time.monotonic() - wall0
        cpu, farm_cpu = time.process_time() - cpu0, cpu_of(farm.pid) - farm0
        # Samples of the window still on their way arrive late, not never: wait for them.
        await asyncio.sleep(args.max_delay_s + 1.0)
        with live._lock:
            delivered = {k: list(v) for k, v in live.samples.items()}
        delays, missing = sample_delays(arrivals, delivered)
        received = sum(
            1 for got in delivered.values() for published, _ in got if start <= published < end
        )
        from sqlalchemy import func, select

        from cases.models import Evidence

        with ground.sessions() as session:
            ingested = session.scalar(select(func.count()).select_from(Evidence)) or 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if scheduler_task is not None:
            scheduler.request_stop()
            await asyncio.wait([scheduler_task], timeout=10)
        for bridge in bridges:
            await bridge.stop()
        for v in vehicles:
            await v.close()
        if live is not None:
            live.stop()
        ground.stop()
        farm.stdin.close()
        farm.wait(30)
    expected = n * args.hz * wall
    out: dict[str, Any] = {
        "vehicles": n,
        "samples_expected": round(expected),
        "positions_at_links": positions[0],
        "samples_published": published,
        "samples_received": received,
        "samples_never_delivered": missing,
        "delay_p50_s": round(statistics.median(delays), 3) if delays else None,
        "delay_p99_s": round(delays[int(0.99 * (len(delays) - 1))], 3) if delays else None,
        "delay_max_s": round(delays[-1], 3) if delays else None,
        "link_delay_max_s": round(max(link_delays), 3) if link_delays else None,
        "link_samples": len(link_delays),
        "evidence_ingested": int(ingested),
        "ground_cpu_pct": round(100 * cpu / wall, 1),
        "vehicles_cpu_pct": round(100 * farm_cpu / wall, 1),
    }
    out["passed"] = bool(
        delays
        and delays[-1] <= args.max_delay_s
        and missing == 0
        and len(delays) >= 0.98 * expected
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", type=int, default=5)
    p.add_argument("--step", type=int, default=5)
    p.add_argument("--max", type=int, default=60)
    p.add_argument("--hz", type=float, default=5.0)
    p.add_argument("--window", type=float, default=15.0, help="measured seconds per N")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--max-delay-s", type=float, default=1.0)
    p.add_argument("--evidence-every", type=float, default=10.0, help="s between a vehicle's items")
    args = p.parse_args()
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="fieldpatrol-bench-fleet-"))
    broker = MosquittoProcess(write_plain_config(tmp / "broker", port), port)
    broker.start()
    steps: list[dict[str, Any]] = []
    sustained = 0
    try:
        n = args.start
        while n <= args.max:
            step = asyncio.run(ground_run(n, args, port, tmp))
            print(json.dumps(step), file=sys.stderr, flush=True)
            steps.append(step)
            if not step["passed"]:
                break
            sustained = n
            n += args.step
    finally:
        broker.stop()
    print(
        json.dumps(
            {
                "bench": "fleet",
                "vehicles_sustained": sustained,
                "telemetry_hz": args.hz,
                "max_delay_s": args.max_delay_s,
                "steps": steps,
                "machine": f"{os.cpu_count()} cores {platform.machine()}, "
                f"python {platform.python_version()}",
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
