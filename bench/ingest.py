"""Benchmark of the evidence path, end to end; prints one JSON object.

Vehicle outbox → our own Mosquitto → ingest process(es) → case record. For each setting
(SQLite with one ingest worker and with two worker processes on a shared subscription,
PostgreSQL with one and with two) it measures:

* ``*_evidence_per_s``: a burst of ``--items`` signed evidence items (each with one media
  blob of ``--media-bytes``) queued at once in the vehicle's outbox and published by its
  publisher while the ingest runs: items / (time from the first publish to the last item
  committed in the case record). This is end to end, so it is bounded by the publisher too
  (``baseline_items_per_s`` shows what the publisher delivers to a subscriber that does
  nothing).
* ``*_drain_evidence_per_s``: the ingest alone. The ingest's persistent session is
  subscribed, the ingest stopped, ``--drain-items`` items published (the broker queues them
  for the session), the ingest started again: items / (time from the ingest being ready to
  the last item committed).
* ``*_cpu_ms_per_evidence``: CPU time (user + system) of the ingest process(es) per item
  during the burst and during the drain (``psutil``): less sensitive than wall time to
  other work on the machine.
* ``*_p50_ms`` / ``*_p99_ms``: latency from the moment an item is due on the vehicle (a
  signed item, built beforehand; the items due are handed to its outbox together) to the
  bench seeing it committed in the case record (polled every ``--poll-ms``, so figures
  are up to that much pessimistic), under a paced load of ``--paced-rate`` items/s for
  ``--paced-items`` items.

and, in the same run, a raw baseline: a bare paho subscriber (QoS 1, automatic ack) that
only appends payloads to a file, fed the same messages (``baseline_msgs_per_s``; each item
is two messages, media and evidence). ``ratio_to_baseline`` is evidence/s divided by the
baseline's items/s.

The settings with two ingest processes run the product's own scale-out, ``python -m
gateway.ingest --processes 2`` (a supervisor and two processes on a shared subscription).
``--sweep 1000,1500,2000`` adds p50 / p99 at each offered rate (``*_p99_ms_at_<rate>``),
each over ``--sweep-seconds`` (default 5) of items at that rate. ``--raw-sweep RATES`` does
the same with the items written to the broker by a raw-socket load generator instead of the
vehicle's outbox and publisher (``*_raw_p99_ms_at_<rate>``): the gateway's own latency,
publish → committed, with the vehicle's work off the two cores.

Usage: ``python bench/ingest.py [--items 3000] [--settings sqlite,sqlite2,pg1,pg2]
[--sweep RATES] [--raw-sweep RATES] [--postgres URL] [--no-postgres]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "evidence"))

from edge_load import make_item  # noqa: E402

from cases.db import make_engine, session_factory, upgrade  # noqa: E402
from cases.models import Evidence  # noqa: E402
from gateway.devices import register_device  # noqa: E402
from gateway.ingest.broker import MosquittoProcess, free_port, write_plain_config  # noqa: E402
from telemetry.contract import EvidenceMessage, topic_for  # noqa: E402
from telemetry.outbox import Outbox  # noqa: E402
from telemetry.publisher import EvidencePublisher  # noqa: E402
from telemetry.signing import DeviceKey  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class PgDatabase:
    """A throw-away PostgreSQL database with a random name."""

    def __init__(self, admin_url: str) -> None:
        self.admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"fp_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        base = admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:  # a process that has gone (e.g. a restarted ingest child)
            continue
        total += times.user + times.system
    return total


class Ingest:
    """The ingest of one setting: ``python -m gateway.ingest [--processes N]``.

    With ``workers`` > 1 it is the product's own scale-out: one supervisor and N ingest
    processes on a shared subscription (``--processes N``).
    """

    def __init__(self, tmp: Path, port: int, url: str, workers: int, tag: str, run: str = ""):
        self.log = tmp / f"ingest-{tag}{run}.log"
        args = [
            sys.executable, "-m", "gateway.ingest", "--port", str(port), "--database-url", url,
            "--media-dir", str(tmp / f"media-{tag}"), "--client-id", f"bench-{tag}",
        ]  # fmt: skip
        if workers > 1:
            # A group of this setting's own: the offline sessions of an earlier setting's
            # group would otherwise take their round-robin share of the messages.
            args += ["--processes", str(workers), "--share", f"ingest-{tag}"]
        out = open(self.log, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.pids = [self.proc.pid]
        deadline = time.monotonic() + 60
        while True:  # ready when it has printed its "ready" line
            for line in self.log.read_bytes().splitlines():
                if line.startswith(b"{") and b'"ready"' in line:
                    self.pids += json.loads(line).get("pids", [])
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ingest did not start: {self.log.read_text()[-800:]}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU time its processes have used so far."""
        return cpu_seconds(self.pids)

    def stop(self) -> None:
        """SIGTERM (the supervisor forwards it), wait, kill if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def counts(self) -> list[dict[str, Any]]:
        """Each ingest process's counters, from the metrics line printed when it stopped."""
        lines = [ln for ln in self.log.read_text().splitlines() if ln.startswith("{")]
        last = json.loads(lines[-1]) if lines else {}
        if "children" in last:
            return [c.get("counts", {}) for c in last["children"]]
        return [last.get("counts", {})]


def drop_sessions(port: int, tag: str, workers: int) -> None:
    """End the ingest processes' persistent sessions: the broker would keep a copy of every
    later setting's messages for them (they subscribe to all vehicles)."""
    ids = [f"bench-{tag}"] if workers == 1 else [f"bench-{tag}-p{i}" for i in range(workers)]
    for client_id in ids:
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        c.connect("127.0.0.1", port, clean_start=True)  # session expiry 0: gone on disconnect
        c.loop_start()
        c.disconnect()
        c.loop_stop()


def count(sessions: Any, prefix: str) -> int:
    with sessions() as s:
        q = select(func.count()).select_from(Evidence).where(Evidence.id.like(f"{prefix}-%"))
        return int(s.scalar(q) or 0)


def wait_count(sessions: Any, prefix: str, n: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while count(sessions, prefix) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ingested within {timeout} s")
        time.sleep(0.02)


def run_setting(
    tmp: Path, port: int, url: str, workers: int, tag: str, args: argparse.Namespace
) -> dict[str, float]:
    """Burst throughput and paced latency for one database / worker count."""
    result: dict[str, float]
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    key = DeviceKey.generate()
    vehicle = f"uav-{tag}"
    with sessions() as s:
        register_device(s, vehicle, key.public_key_bytes())
        s.commit()
    ingest: Ingest | None = Ingest(tmp, port, url, workers, tag)
    outbox = Outbox(tmp / f"outbox-{tag}.sqlite", synchronous="NORMAL")
    pub = EvidencePublisher(outbox, "127.0.0.1", port, f"bench-edge-{tag}", inflight=500)
    try:
        log(f"[{tag}] building {args.items} signed items")
        items = [make_item(key, vehicle, i, "burst", args.media_bytes) for i in range(args.items)]
        for i in range(0, len(items), 500):
            outbox.add_many(items[i : i + 500])
        assert ingest is not None
        cpu0 = ingest.cpu_seconds()
        t0 = time.monotonic()
        pub.start()
        wait_count(sessions, "burst", args.items, args.timeout, f"[{tag}] burst")
        burst_s = time.monotonic() - t0
        burst_cpu = ingest.cpu_seconds() - cpu0
        rate = args.items / burst_s
        log(
            f"[{tag}] burst: {args.items} items in {burst_s:.1f} s = {rate:.0f}/s, "
            f"ingest CPU {burst_cpu / args.items * 1000:.2f} ms/item"
        )
        result = {"evidence_per_s": rate, "cpu_ms_per_evidence": burst_cpu / args.items * 1000}

        # Paced load: submit at a fixed rate; latency = first seen committed - submission.
        paced_rate = args.paced_rate or max(5.0, 0.5 * rate)
        result.update(paced(sessions, pub, key, vehicle, args, paced_rate))
        result["paced_rate"] = paced_rate
        log(
            f"[{tag}] paced at {paced_rate:.0f}/s: p50 {result['p50_ms']:.0f} ms, "
            f"p99 {result['p99_ms']:.0f} ms"
        )
        first = args.items + args.paced_items
        raw = RawPublisher(port, f"bench-raw-{tag}") if args.raw_sweep_rates else None
        try:
            for sender, rates, label in (
                (pub, args.sweep_rates, ""),
                (raw, args.raw_sweep_rates, "raw_"),
            ):
                for rate in rates:
                    assert sender is not None
                    # A paced run at each offered rate, long enough (--sweep-seconds) for a
                    # queue to build up where the rate is more than the ingest keeps up with.
                    n = max(1, round(rate * args.sweep_seconds))
                    r, spent = sweep_at(
                        sessions, sender, key, vehicle, args, rate, first, n, ingest
                    )
                    first += n
                    result[f"{label}p50_ms_at_{rate:g}"] = r["p50_ms"]
                    result[f"{label}p99_ms_at_{rate:g}"] = r["p99_ms"]
                    for part, ms in spent.items():
                        result[f"{label}cpu_ms_{part}_at_{rate:g}"] = ms
                    log(
                        f"[{tag}] {'raw publisher, ' if label else ''}offered {rate:.0f}/s: "
                        f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms; CPU per item: "
                        f"ingest {spent['ingest']:.2f} ms, vehicle and bench "
                        f"{spent['vehicle']:.2f} ms, broker {spent['broker']:.2f} ms"
                    )
        finally:
            if raw is not None:
                raw.stop()
        ingest.stop()
        counts = ingest.counts()
        ingest = None

        if args.drain_items:
            # The ingest alone: its sessions hold a backlog, published while it was down.
            n = args.drain_items
            backlog = [
                make_item(key, vehicle, first + k, "drain", args.media_bytes) for k in range(n)
            ]
            for i in range(0, n, 500):
                outbox.add_many(backlog[i : i + 500])
            pub.flush(timeout=args.timeout)
            ingest = Ingest(tmp, port, url, workers, tag, "-drain")
            cpu0 = ingest.cpu_seconds()
            t0 = time.monotonic()
            wait_count(sessions, "drain", n, args.timeout, f"[{tag}] drain")
            drain_s = time.monotonic() - t0
            drain_cpu = ingest.cpu_seconds() - cpu0
            result["drain_evidence_per_s"] = n / drain_s
            result["drain_cpu_ms_per_evidence"] = drain_cpu / n * 1000
            log(
                f"[{tag}] drain: {n} items in {drain_s:.1f} s = {n / drain_s:.0f}/s, "
                f"ingest CPU {drain_cpu / n * 1000:.2f} ms/item"
            )
            ingest.stop()
            for i, c in enumerate(ingest.counts()):
                log(f"[{tag}] drain worker {i}: {json.dumps(c)}")
            ingest = None
    finally:
        pub.stop()
        outbox.close()
        if ingest is not None:
            ingest.stop()
        drop_sessions(port, tag, workers)
        engine.dispose()
    for i, c in enumerate(counts):
        log(f"[{tag}] worker {i}: {json.dumps(c)}")
        batches = max(1, c.get("batches", 1))
        result[f"worker{i}_mean_batch_messages"] = c.get("batch_messages", 0) / batches
        for k in ("precheck_ms", "turn_wait_ms", "process_ms", "media_sync_ms", "commit_ms"):
            result[f"worker{i}_{k}_per_batch"] = c.get(k, 0) / batches
    return result


Item = tuple[EvidenceMessage, dict[str, bytes]]


def _mqtt_packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT control packet: fixed header (type and flags, remaining length) and body."""
    length, n = b"", len(body)
    while True:  # the remaining length's variable byte integer
        n, digit = divmod(n, 128)
        length += bytes([digit | (0x80 if n else 0)])
        if not n:
            return bytes([first_byte]) + length + body


def _mqtt_str(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


class RawPublisher:
    """A load generator: pre-encoded MQTT 5 PUBLISH packets (QoS 1) written to a socket.

    For the ``--raw-sweep`` latency, the gateway's own (broker and ingest, publish →
    committed): the same signed items and the same broker, but next to no CPU spent on the
    sending side, as a load generator for a server should (paho costs about 0.15 ms per
    message in Python, and the vehicle's outbox more; on a real vehicle both run on the
    vehicle's computer, not on the gateway's two cores). The packets are built before the
    run; a thread reads the broker's PUBACKs and drops them (the bench watches the case
    record, not the acknowledgements).
    """

    def __init__(self, port: int, client_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            # CONNECT: protocol MQTT 5, clean start, no keep-alive, no properties.
            connect = _mqtt_str("MQTT") + bytes([5, 0x02, 0, 0, 0]) + _mqtt_str(client_id)
            self.sock.sendall(_mqtt_packet(0x10, connect))
            connack = self.sock.recv(64)
            if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
                raise RuntimeError(f"raw publisher: the broker refused the connection: {connack!r}")
        except BaseException:
            self.sock.close()
            raise
        self._next_id = 0
        self._reader = threading.Thread(target=self._drain, name="raw-publisher", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                if not self.sock.recv(1 << 16):
                    return
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return

    def prepare(self, items: list[Item]) -> Any:
        """A ``send(items)`` for :func:`paced`: every packet is built now, not when due."""
        packets: dict[int, bytes] = {}
        for msg, media in items:
            site, vehicle = msg.site_id, msg.vehicle_id
            messages = [
                *((topic_for(site, vehicle, "media", sha256=h), b) for h, b in media.items()),
                (topic_for(site, vehicle, "evidence"), msg.to_json()),
            ]  # media first, then the evidence that points to them
            data = b""
            for topic, payload in messages:
                # Packet ids 1..65535 in turn: far more than are ever in flight here.
                self._next_id = self._next_id % 65535 + 1
                body = _mqtt_str(topic) + struct.pack("!H", self._next_id) + b"\x00" + payload
                data += _mqtt_packet(0x32, body)  # PUBLISH, QoS 1
            packets[id(msg)] = data

        def send(due: list[Item]) -> None:
            self.sock.sendall(b"".join(packets[id(msg)] for msg, _media in due))

        return send

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(_mqtt_packet(0xE0, b""))  # DISCONNECT
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(5)


def paced(
    sessions: Any,
    pub: EvidencePublisher | RawPublisher,
    key: DeviceKey,
    vehicle: str,
    args: argparse.Namespace,
    rate: float,
    first: int | None = None,
    count: int | None = None,
) -> dict[str, float]:
    """Submit ``--paced-items`` at ``rate``/s; latency percentiles from due time to commit.

    Items get sequence numbers from ``first`` on (default: right after the burst); ``count``
    items instead of ``--paced-items``. Item k falls at ``k / rate`` and is due with the
    camera frame it falls in (frames every ``--frame-ms``; 0: each item on its own), since
    vision hands over a frame's detections together. What is due is handed to the outbox
    in one ``submit_many``, and each item's latency counts from its frame's time, so a late
    submission is not hidden. With a :class:`RawPublisher` the items are published
    straight away instead (QoS 1, no outbox), their MQTT packets built beforehand.
    """
    n = args.paced_items if count is None else count
    first = args.items if first is None else first
    # Built and signed beforehand: on a vehicle that is its own computer's work, and here it
    # would take CPU from the two cores the gateway is measured on.
    items = [make_item(key, vehicle, first + k, "paced", args.media_bytes) for k in range(n)]
    send = pub.prepare(items) if isinstance(pub, RawPublisher) else pub.submit_many
    seen: dict[int, float] = {}  # k -> when the bench first saw item k committed
    lowest = 0  # every item below this one has been seen
    poll = args.poll_ms / 1000.0
    # The items committed since the lowest unseen one: a small answer, whatever the backlog.
    query = text(
        "SELECT device_seq FROM evidence WHERE vehicle_id = :vehicle AND device_seq >= :low"
    )
    frame = args.frame_ms / 1000.0
    offsets = [(math.floor(j / rate / frame) * frame if frame > 0 else j / rate) for j in range(n)]
    start = time.monotonic()
    due_at = [start + o for o in offsets]
    next_poll = start
    k = 0
    deadline = start + n / rate + args.timeout
    with sessions() as s:
        while lowest < n:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"paced items not ingested within {args.timeout} s")
            due = k
            while due < n and due_at[due] <= now:
                due += 1
            if k < due:
                send(items[k:due])
                k = due
            if now >= next_poll:
                rows = s.execute(query, {"vehicle": vehicle, "low": first + lowest}).all()
                s.rollback()  # a fresh snapshot next time
                t = time.monotonic()
                for (seq,) in rows:
                    if first <= seq < first + n:
                        seen.setdefault(seq - first, t)
                while lowest in seen:
                    lowest += 1
                next_poll = now + poll
            next_submit = due_at[k] if k < n else next_poll
            pause = min(next_poll, next_submit) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    lat = sorted((seen[j] - due_at[j]) * 1000.0 for j in range(n))
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return {"p50_ms": p50, "p99_ms": p99}


def sweep_at(
    sessions: Any,
    sender: EvidencePublisher | RawPublisher,
    key: DeviceKey,
    vehicle: str,
    args: argparse.Namespace,
    rate: float,
    first: int,
    n: int,
    ingest: Ingest,
) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`paced` at ``rate``, and where the two cores went meanwhile, in ms per item: the
    ingest, this process (the vehicle's publisher, the pacing and polling) and the broker."""
    cpu = (ingest.cpu_seconds(), time.process_time(), cpu_seconds(args.broker_pids))
    r = paced(sessions, sender, key, vehicle, args, rate, first, n)
    spent = (
        ingest.cpu_seconds() - cpu[0],
        time.process_time() - cpu[1],
        cpu_seconds(args.broker_pids) - cpu[2],
    )
    parts = ("ingest", "vehicle", "broker")
    return r, {part: s / n * 1000 for part, s in zip(parts, spent, strict=True)}


def baseline(tmp: Path, port: int, args: argparse.Namespace) -> float:
    """Messages/s through a bare paho subscriber that appends payloads to a file."""
    key = DeviceKey.generate()
    items = [make_item(key, "uav-base", i, "base", args.media_bytes) for i in range(args.items)]
    total = 2 * len(items)
    got = 0
    done = threading.Event()
    sink = open(tmp / "baseline.bin", "wb")  # noqa: SIM115 - closed below
    ready = threading.Event()

    def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        nonlocal got
        sink.write(m.payload)
        got += 1
        if got >= total:
            done.set()

    sub = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-baseline",
        protocol=mqtt.MQTTv5,
    )  # fmt: skip
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: ready.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe("fieldpatrol/v1/+/uav-base/#", qos=1)
    sub.loop_start()
    ready.wait(10)
    outbox = Outbox(tmp / "outbox-base.sqlite", synchronous="NORMAL")
    for i in range(0, len(items), 500):
        outbox.add_many(items[i : i + 500])
    pub = EvidencePublisher(outbox, "127.0.0.1", port, "bench-edge-base", inflight=500)
    t0 = time.monotonic()
    pub.start()
    done.wait(args.timeout)
    elapsed = time.monotonic() - t0
    pub.stop()
    outbox.close()
    sub.disconnect()
    sub.loop_stop()
    sink.close()
    rate = got / elapsed
    log(f"[baseline] {got} messages in {elapsed:.1f} s = {rate:.0f}/s")
    return rate


def cpu_breakdown(tmp: Path, n: int, media_bytes: int) -> dict[str, float]:
    """CPU milliseconds per evidence item in the ingest, by part (independent of machine load).

    Runs the ingest's Processor in this process on SQLite, batches of 200 messages, and
    times (``time.process_time``) the parts that belong to the case record
    (``store_evidence_many``, ``attach_many``: the set-based calls a batch makes) and the
    rest (parsing, signature, media, audit entries, ...).
    """
    import gateway.ingest.processor as proc
    from cases.audit import AuditWriter
    from gateway.media import MediaStore

    spent: dict[str, float] = {"store_evidence_many": 0.0, "attach_many": 0.0}
    originals = {name: getattr(proc, name) for name in spent}

    def timed(name: str) -> Any:
        fn = originals[name]

        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.process_time() - t

        return wrapper

    url = f"sqlite:///{tmp / 'cpu.db'}"
    upgrade(url)
    engine = make_engine(url, sqlite_immediate=True)
    sessions = session_factory(engine)
    key = DeviceKey.generate()
    with sessions() as s:
        register_device(s, "uav-cpu", key.public_key_bytes())
        s.commit()
    msgs: list[tuple[str, bytes, bool]] = []
    for i in range(n):
        msg, media = make_item(key, "uav-cpu", i, "cpu", media_bytes)
        for sha, blob in media.items():
            msgs.append((topic_for("site-1", "uav-cpu", "media", sha256=sha), blob, False))
        msgs.append((topic_for("site-1", "uav-cpu", "evidence"), msg.to_json(), False))
    processor = proc.Processor(MediaStore(tmp / "media-cpu"))
    for name in spent:
        setattr(proc, name, timed(name))
    try:
        t0 = time.process_time()
        for i in range(0, len(msgs), 200):
            with sessions() as s, AuditWriter(s) as writer:
                processor.process_batch(s, msgs[i : i + 200], writer=writer)
                s.commit()
        total = time.process_time() - t0
    finally:
        for name, fn in originals.items():
            setattr(proc, name, fn)
        engine.dispose()
    per = {k: v / n * 1000.0 for k, v in spent.items()}
    out = {f"cpu_ms_{k}": round(v, 2) for k, v in per.items()}
    out["cpu_ms_total"] = round(total / n * 1000.0, 2)
    out["cpu_ms_ingest_own"] = round(out["cpu_ms_total"] - sum(per.values()), 2)
    out["cpu_bound_evidence_per_s_one_core"] = round(1000.0 / out["cpu_ms_total"], 1)
    return out


def report(result: dict[str, Any], prefix: str, r: dict[str, float]) -> None:
    """Put one setting's figures into the JSON result under ``prefix``."""
    result[f"{prefix}_evidence_per_s"] = round(r["evidence_per_s"], 1)
    for k in ("cpu_ms_per_evidence", "drain_evidence_per_s", "drain_cpu_ms_per_evidence"):
        if k in r:
            result[f"{prefix}_{k}"] = round(r[k], 3 if "cpu" in k else 1)
    for k in ("p50_ms", "p99_ms", "paced_rate"):
        result[f"{prefix}_{k}"] = round(r[k], 1)
    for k, v in r.items():
        if k.startswith(("p50_ms_at_", "p99_ms_at_", "raw_p50_ms_at_", "raw_p99_ms_at_")):
            result[f"{prefix}_{k}"] = round(v, 1)
        elif k.startswith(("cpu_ms_", "raw_cpu_ms_")) and "_at_" in k:
            result[f"{prefix}_{k}"] = round(v, 3)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--media-bytes", type=int, default=2048)
    p.add_argument("--paced-items", type=int, default=1000)
    p.add_argument("--paced-rate", type=float, default=0.0, help="default: half the burst rate")
    p.add_argument("--drain-items", type=int, default=3000, help="0: no drain run")
    p.add_argument("--poll-ms", type=float, default=20.0)
    p.add_argument("--postgres", default=PG_URL)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument(
        "--no-sqlite-two-workers",
        dest="sqlite_two_workers",
        action="store_false",
        help="skip the setting with two ingest processes on one SQLite database",
    )
    p.add_argument(
        "--settings",
        default="sqlite,sqlite2,pg1,pg2",
        help="settings to run, of sqlite, sqlite2 (two processes), pg1, pg2",
    )
    p.add_argument(
        "--sweep",
        default="",
        help="comma-separated offered rates (items/s): p50/p99 at each, after the paced run",
    )
    p.add_argument(
        "--raw-sweep",
        default="",
        help="comma-separated offered rates (items/s): the same as --sweep, the items "
        "written to the broker by a raw-socket load generator, the gateway's own latency "
        "(raw_* keys)",
    )
    p.add_argument("--sweep-seconds", type=float, default=5.0, help="length of each sweep run")
    p.add_argument(
        "--frame-ms",
        type=float,
        default=0.0,
        help="paced items come in camera frames this far apart (0: one by one)",
    )
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args()
    settings = {x.strip() for x in args.settings.split(",") if x.strip()}
    unknown = settings - {"sqlite", "sqlite2", "pg1", "pg2"}
    if unknown:
        p.error(f"--settings: unknown {', '.join(sorted(unknown))}; use sqlite,sqlite2,pg1,pg2")
    if args.no_postgres:
        settings -= {"pg1", "pg2"}
    if not args.sqlite_two_workers:
        settings.discard("sqlite2")
    for option in ("sweep", "raw_sweep"):
        given = getattr(args, option)
        try:
            rates = [float(x) for x in given.split(",") if x.strip()]
        except ValueError:
            rates = [0.0]
        if any(not (r > 0 and math.isfinite(r)) for r in rates):
            p.error(
                f"--{option.replace('_', '-')} {given!r}: give rates in items/s (positive "
                "numbers) separated by commas, e.g. 1000,2000"
            )
        setattr(args, f"{option}_rates", rates)

    tmp = Path(tempfile.mkdtemp(prefix="fp-bench-ingest-"))
    port = free_port()
    broker = MosquittoProcess(write_plain_config(tmp / "broker", port), port)
    broker.start()
    args.broker_pids = [broker.pid] if broker.pid is not None else []
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores {platform.machine()}, python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start",
        "items": args.items,
        "media_bytes": args.media_bytes,
        "time": datetime.now(UTC).isoformat(),
    }
    try:
        result["sqlite_cpu_per_evidence"] = cpu_breakdown(tmp, 200, args.media_bytes)
        log(f"[cpu] {result['sqlite_cpu_per_evidence']}")
        base = baseline(tmp, port, args)
        result["baseline_msgs_per_s"] = round(base, 1)
        result["baseline_items_per_s"] = round(base / 2, 1)
        if "sqlite" in settings:
            sq = run_setting(tmp, port, f"sqlite:///{tmp / 'bench.db'}", 1, "sqlite", args)
            report(result, "sqlite", sq)
            result["sqlite_breakdown"] = {
                k: round(v, 1) for k, v in sq.items() if k.startswith("worker")
            }
            result["ratio_to_baseline"] = round(sq["evidence_per_s"] / (base / 2), 4)
        if "sqlite2" in settings:
            # Two ingest processes on one SQLite file (what `--processes 2` runs): they
            # overlap their checks (parsing, signatures, media files) and take turns at the
            # write lock.
            sq2 = run_setting(tmp, port, f"sqlite:///{tmp / 'bench2.db'}", 2, "sqlite2", args)
            report(result, "sqlite_two_workers", sq2)
        for workers, prefix in ((1, "postgres"), (2, "two_workers")):
            if f"pg{workers}" not in settings:
                continue
            db = PgDatabase(args.postgres)
            try:
                r = run_setting(tmp, port, db.url, workers, f"pg{workers}", args)
            finally:
                db.drop()
            report(result, prefix, r)
            if workers == 2:
                result["two_workers_database"] = "postgresql"
    except BaseException:
        # The ingest processes' logs go with the temporary folder: show why they stalled.
        for path in sorted(tmp.glob("ingest-*.log")):
            log(f"--- {path.name} (last lines)\n{path.read_text(errors='replace')[-2000:]}")
        raise
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # databases, media, outboxes: 100+ MB a run
    result["load_average_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
