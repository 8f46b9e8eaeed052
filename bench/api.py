"""Benchmark of the gateway API: p50/p99 latency and requests/s of the case list and the
evidence list with 100 concurrent clients against 10,000 cases and 100,000 evidence items
(SQLite, uvicorn in its own process), and live-stream fan-out to 200 WebSocket clients at
10 Hz from the real broker. Prints one JSON object.

    .venv/bin/python bench/api.py [--cases 10000] [--evidence 100000] [--clients 100]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/<empty database>]

Each phase also reports the gateway process's CPU time per request and the machine's load
average: on a shared machine the wall-clock figures mostly measure the other jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def populate(url: str, n_cases: int, n_evidence: int) -> dict[str, int]:
    from sqlalchemy import insert

    from cases.db import make_engine, session_factory, upgrade
    from cases.models import Case, CaseEvidence, Evidence, SiteRecord
    from cases.users import create_user
    from gateway.auth.passwords import set_password

    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    with session_factory(engine)() as session:
        for name, role, dept in (("admin", "admin", None), ("insp", "inspector", "CG")):
            user = create_user(session, name, name, role, dept)
            set_password(session, user, "bench-password")
            ids[name] = user.id
        session.add(SiteRecord(id="bench-site", name="bench", department_id="CG", geojson={}))
        session.flush()
        session.execute(
            insert(Case),
            [
                {
                    "id": i + 1,
                    "number": f"CG-2026-{i + 1:06d}",
                    "department": "CG",
                    "class_name": "illegal_construction",
                    "state": "suspected",
                    "lat": 41.76,
                    "lon": 123.41,
                    "site_id": "bench-site",
                    "opened_at": now,
                    "updated_at": now,
                    "facts_json": {},
                    "version": 1,
                }
                for i in range(n_cases)
            ],
        )
        batch: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for i in range(n_evidence):
            batch.append(
                {
                    "id": f"ev-{i:07d}",
                    "device_seq": i,
                    "vehicle_id": "uav-1",
                    "site_id": "bench-site",
                    "mission_id": "m",
                    "sortie_id": f"s-{i // 1000}",
                    "captured_at": now - timedelta(seconds=i),
                    "lat": 41.76,
                    "lon": 123.41,
                    "alt_agl_m": 50.0,
                    "alt_amsl_m": 92.0,
                    "class_name": "illegal_construction",
                    "confidence": 0.9,
                    "box_px": [1, 2, 3, 4],
                    "footprint": {},
                    "signature": "s",
                    "raw_json": "{}",
                    "received_at": now,
                    "art41_review": "pending",
                }
            )
            links.append(
                {"case_id": i % n_cases + 1, "evidence_id": f"ev-{i:07d}", "attached_at": now}
            )
            if len(batch) == 20_000:
                session.execute(insert(Evidence), batch)
                session.execute(insert(CaseEvidence), links)
                batch, links = [], []
        if batch:
            session.execute(insert(Evidence), batch)
            session.execute(insert(CaseEvidence), links)
        session.commit()
    engine.dispose()
    return ids


def serve(url: str, home: str, port: int, secret: bytes, mqtt_port: int) -> None:
    import uvicorn

    from gateway.app import GatewayConfig, create_app

    config = GatewayConfig(
        url,
        Path(home) / "media",
        secret_key=secret,
        home=Path(home),
        mqtt_host="127.0.0.1",
        mqtt_port=mqtt_port,
    )
    # Clients of a loaded machine may pause between requests longer than uvicorn's 5 s default.
    uvicorn.run(
        create_app(config),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=120,
        backlog=4096,
    )


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measured(pid: int, phase: Any) -> dict[str, Any]:
    """Run ``phase()``; add the gateway's CPU time per request and the machine's load, since
    wall-clock figures on a shared machine say more about the other jobs than the gateway."""
    load_before = os.getloadavg()[0]
    cpu0, own0 = _cpu_s(pid), time.process_time()
    out: dict[str, Any] = phase()
    cpu, own = _cpu_s(pid) - cpu0, time.process_time() - own0
    n = max(1, int(out.get("requests", 0)))
    out["gateway_cpu_s"] = round(cpu, 2)
    if "requests" in out:
        out["gateway_cpu_ms_per_request"] = round(cpu / n * 1000, 2)
        # What two idle cores could serve at this CPU cost (one uvicorn worker uses one).
        out["cpu_bound_req_per_s_one_core"] = round(n / cpu, 1) if cpu > 0 else None
    out["client_cpu_s"] = round(own, 2)
    out["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


async def load(base: str, path: str, token: str, clients: int, total: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    remaining = total
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                offset = (remaining * 50) % 5000
                t0 = time.perf_counter()
                try:
                    r = await http.get(f"{path}?limit=50&offset={offset}")
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                if not ok:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(_pct(latencies, 50), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "req_per_s": round(len(latencies) / elapsed, 1),
    }


async def fanout(
    base: str, token: str, clients: int, hz: float, seconds: float, mqtt_port: int
) -> dict[str, Any]:
    import paho.mqtt.client as mqtt
    import websockets

    from telemetry.contract import TelemetryMessage, topic_for

    received = [0] * clients
    sent = [0]
    lat_ms: list[float] = []
    ws_url = base.replace("http://", "ws://") + f"/api/live?token={token}"
    conns = [await websockets.connect(ws_url, max_queue=None) for _ in range(clients)]
    for c in conns:
        await c.recv()  # hello
    stop = threading.Event()
    vehicle = f"bench-{os.getpid()}"

    def publish() -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", mqtt_port)
        client.loop_start()
        period = 1.0 / hz
        nxt = time.monotonic()
        while not stop.is_set():
            msg = TelemetryMessage(
                site_id="bench-site",
                vehicle_id=vehicle,
                time=datetime.now(UTC),
                lat=41.76,
                lon=123.41,
                alt_agl_m=50.0,
                alt_amsl_m=92.0,
            )
            client.publish(
                topic_for("bench-site", vehicle, "telemetry"), msg.model_dump_json().encode()
            )
            sent[0] += 1
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))
        client.disconnect()
        client.loop_stop()

    async def reader(i: int, conn: Any) -> None:
        try:
            while True:
                data = json.loads(await conn.recv())
                if data.get("vehicle_id") == vehicle:
                    received[i] += 1
                    if i % 20 == 0:
                        sent = datetime.fromisoformat(data["time"])
                        lat_ms.append((datetime.now(UTC) - sent).total_seconds() * 1000)
        except Exception:
            return

    readers = [asyncio.create_task(reader(i, c)) for i, c in enumerate(conns)]
    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    await asyncio.sleep(seconds)
    stop.set()
    thread.join(5)
    await asyncio.sleep(1.0)
    for c in conns:
        await c.close()
    for r in readers:
        r.cancel()
    expected = hz * seconds
    return {
        "clients": clients,
        "hz": hz,
        "seconds": seconds,
        "messages_per_client_mean": round(statistics.mean(received), 1),
        "messages_per_client_min": min(received),
        "expected_per_client": expected,
        "published": sent[0],
        "delivered_per_s": round(sum(received) / seconds, 1),
        "latency_p50_ms": round(_pct(lat_ms, 50), 1) if lat_ms else None,
        "latency_p99_ms": round(_pct(lat_ms, 99), 1) if lat_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--evidence", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--ws-clients", type=int, default=200)
    parser.add_argument("--ws-seconds", type=float, default=10.0)
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database to fill (e.g. PostgreSQL); default: a temporary SQLite file",
    )
    args = parser.parse_args()

    from gateway.auth import tokens
    from patrol.services import free_port

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        ids = populate(url, args.cases, args.evidence)
        populate_s = time.perf_counter() - t0
        secret = os.urandom(32)
        port = free_port()
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=serve, args=(url, tmp, port, secret, args.mqtt_port), daemon=True)
        proc.start()
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("gateway did not start")
                time.sleep(0.2)
            admin, _ = tokens.issue(secret, ids["admin"], "admin")
            insp, _ = tokens.issue(secret, ids["insp"], "insp")
            out: dict[str, Any] = {
                "machine": f"{os.cpu_count()} cores {platform.machine()}, "
                f"python {platform.python_version()}, {url.split(':', 1)[0]}",
                "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
                "cases": args.cases,
                "evidence": args.evidence,
                "populate_s": round(populate_s, 1),
                "concurrent_clients": args.clients,
            }
            pid = proc.pid or 0
            for name, path, token, n in (
                ("case_list_admin", "/api/cases", admin, args.requests),
                ("evidence_list_admin", "/api/evidence", admin, args.requests),
                ("case_list_department", "/api/cases", insp, args.requests),
                ("evidence_list_department", "/api/evidence", insp, args.requests),
            ):
                out[name] = measured(
                    pid,
                    lambda p=path, t=token, k=n: asyncio.run(load(base, p, t, args.clients, k)),
                )
            out["live_fanout"] = measured(
                pid,
                lambda: asyncio.run(
                    fanout(base, admin, args.ws_clients, 10.0, args.ws_seconds, args.mqtt_port)
                ),
            )
        finally:
            proc.terminate()
            proc.join(10)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
