"""One simulated patrol, end to end: the walking skeleton behind `patrol demo`.

Site file -> survey plan checked against the fence -> built-in simulated copter on a local
MAVLink TCP port -> upload mission, fence and rally, fly AUTO until landed -> synthetic camera
frames at every CAMERA_FEEDBACK -> detector -> georeference and merge -> signed evidence through
the durable outbox over MQTT -> gateway ingest into the case record -> cases opened -> every
step in the audit log. Every stage is the real one; none returns canned results.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from patrol.config import Settings
from patrol.services import BrokerHandle, ensure_broker

ACTOR = "patrol.demo"


class DemoError(ValueError):
    """The demo could not run; the message says what failed and what to do."""


def default_site_path() -> Path:
    """The example site shipped with the repository (examples/sites/shenyang-hunhe.geojson)."""
    return Path(__file__).resolve().parents[1] / "examples" / "sites" / "shenyang-hunhe.geojson"


@dataclass
class DemoOptions:
    site_path: Path = field(default_factory=default_site_path)
    seed: int = 7
    speedup: float = 25.0
    altitude_agl_m: float = 50.0
    #: Default: `demo-copter-<8 hex>` derived from the data directory, so that demo runs with
    #: different homes on one broker never see each other's evidence.
    vehicle_id: str | None = None
    flight_timeout_s: float = 150.0
    allow_private_broker: bool = True


@dataclass
class DemoSummary:
    flight_time_s: float = 0.0
    distance_m: float = 0.0
    waypoints: int = 0
    frames: int = 0
    detections: int = 0
    suspects: int = 0
    evidence: int = 0
    cases: int = 0
    audit_entries: int = 0
    audit_ok: bool = False
    audit_head_size: int = 0
    planted_violations: int = 0
    planted_found: int = 0
    database: str = ""
    broker: str = ""
    report_dir: str = ""
    tlog: str = ""
    tlog_sha256: str = ""
    sortie_id: str = ""
    mission_id: str = ""
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: A progress callback: (stage, completed, total or None, message).
Progress = Callable[[str, float, float | None, str], None]


def _no_progress(stage: str, done: float, total: float | None, message: str) -> None:
    return None


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(1.0, a)))


class _Recorder:
    """Appends the demo's own acts to the audit log (patrol/ may write it; libraries emit)."""

    def __init__(self, session_factory: Any) -> None:
        self._sessions = session_factory
        self._lock = threading.Lock()

    def __call__(self, action: str, subject: str, payload: dict[str, Any]) -> None:
        from cases import audit

        with self._lock, self._sessions() as session:
            audit.append(session, ACTOR, action, subject, payload)
            session.commit()


class _FrameWorker:
    """Renders the synthetic frame for each capture pose and runs the vision pipeline on it.

    Runs in one background thread so the MAVLink link never waits on image work; numpy and
    ONNX Runtime release the GIL for the heavy parts.
    """

    def __init__(self, world: Any, camera_model: Any, pipeline: Any, seed: int):
        from simulators.camera import SyntheticCamera

        self.camera = SyntheticCamera(world, camera_model, seed=seed)
        self.pipeline = pipeline
        self.frames = 0
        self.detections = 0
        self.unlocated = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="demo-frames", daemon=True)
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread.start()

    def submit(self, pose: Any) -> None:
        self._queue.put(pose)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, stall_timeout: float) -> None:
        """Finish the queued frames; fail if none completes within `stall_timeout` seconds."""
        self._queue.put(None)
        last = -1
        while self._thread.is_alive():
            if self.frames == last:
                self.abort()
                raise DemoError(
                    f"frame processing stalled: no frame finished within {stall_timeout:.0f} s "
                    f"({self.pending} still queued)"
                )
            last = self.frames
            self._thread.join(stall_timeout)
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Drop the queued frames and stop the thread (used when the run fails)."""
        self._stopping.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            pose = self._queue.get()
            if pose is None or self._stopping.is_set():
                return
            try:
                frame = self.camera.render(pose)
                result = self.pipeline.process(f"frame-{self.frames:05d}", frame.image, pose)
                self.frames += 1
                self.detections += len(result.detections) + len(result.unlocated)
                self.unlocated += len(result.unlocated)
            except BaseException as exc:  # reported on close(), never lost
                self._error = exc
                return


class DemoRun:
    """Everything one `patrol demo` run starts, so that all of it is stopped at the end."""

    def __init__(self, settings: Settings, options: DemoOptions, progress: Progress | None = None):
        self.settings = settings
        self.options = options
        self.progress = progress or _no_progress
        self.summary = DemoSummary()
        self._stack: list[Callable[[], None]] = []
        home_tag = hashlib.sha256(str(settings.home).encode("utf-8")).hexdigest()[:8]
        self.home_tag = home_tag
        self.vehicle_id = options.vehicle_id or f"demo-copter-{home_tag}"

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> DemoSummary:
        started = time.monotonic()
        try:
            asyncio.run(self._run())
        finally:
            while self._stack:
                stop = self._stack.pop()
                # keep stopping the rest; a failure to stop is not the run's result
                with contextlib.suppress(Exception):
                    stop()
        self.summary.wall_time_s = round(time.monotonic() - started, 1)
        return self.summary

    def _on_stop(self, stop: Callable[[], None]) -> None:
        self._stack.append(stop)

    # -- the flow ------------------------------------------------------------------------
    async def _run(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from cases import audit
        from cases.db import make_engine, session_factory, upgrade
        from cases.errors import DatabaseError
        from missions.camera import CameraModel
        from missions.check import check_mission
        from missions.site import load_site
        from missions.survey import plan_survey
        from simulators.world import generate_world
        from vision.detector import load_detector
        from vision.pipeline import FramePipeline

        settings, options, summary = self.settings, self.options, self.summary
        settings.ensure_dirs()
        sortie_id = f"S-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        mission_id = f"M-{uuid.uuid4().hex[:10]}"
        summary.sortie_id, summary.mission_id = sortie_id, mission_id
        report_dir = settings.reports_dir / sortie_id
        report_dir.mkdir(parents=True, exist_ok=True)
        summary.report_dir = str(report_dir)
        summary.database = settings.database_url

        self.progress("setup", 0, None, "数据库迁移 (database migrations)")
        try:
            upgrade(settings.database_url)
            engine = make_engine(settings.database_url)
        except (SQLAlchemyError, DatabaseError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DemoError(
                f"cannot open the database {_shown_url(settings.database_url)} ({reason}); "
                "check FIELDPATROL_DATABASE_URL, or unset it to use the SQLite file under "
                "FIELDPATROL_HOME"
            ) from None
        self._on_stop(engine.dispose)
        sessions = session_factory(engine)
        record = _Recorder(sessions)

        site = load_site(options.site_path)
        record(
            "site.loaded", f"site:{site.id}", {"name": site.name, "file": str(options.site_path)}
        )
        world = generate_world(site, seed=options.seed)
        world.save(report_dir / "ground_truth.geojson")
        summary.planted_violations = len(world.violations)

        # The default camera's optics at 640x480: the detector's input size, so rendering a
        # full-resolution frame only to shrink it again is skipped.
        camera_model = dataclasses.replace(
            CameraModel.default(), image_width_px=640, image_height_px=480
        )
        plan = plan_survey(site, camera_model, altitude_agl_m=options.altitude_agl_m)
        check = check_mission(site, plan.items)
        if not check.ok:
            raise DemoError(
                "the planned survey failed the fence check: " + "; ".join(check.problems)
            )
        summary.waypoints = len(plan.items)
        record(
            "mission.planned",
            f"mission:{mission_id}",
            {
                "site": site.id,
                "pattern": "survey",
                "altitude_agl_m": options.altitude_agl_m,
                "items": len(plan.items),
                "distance_m": plan.estimates.distance_m,
                "check": "passed",
            },
        )
        (report_dir / "plan.geojson").write_text(
            json.dumps(
                {
                    "type": "Feature",
                    "properties": {"mission_id": mission_id},
                    "geometry": {"type": "LineString", "coordinates": plan.path_lonlat},
                }
            ),
            encoding="utf-8",
        )

        # Broker, device identity, gateway ingest and the vehicle's outbox publisher.
        self.progress("setup", 0, None, "MQTT 代理 (broker)")
        # A broker the user named must be used; only the default may fall back to a private one.
        broker = ensure_broker(
            settings.mqtt_host,
            settings.mqtt_port,
            allow_private=options.allow_private_broker and not settings.mqtt_configured,
        )
        self._on_stop(broker.stop)
        summary.broker = f"{broker.url} ({broker.kind})"
        publisher = self._start_evidence_path(broker, sessions)

        detector = load_detector()
        pipeline = FramePipeline(detector, camera_model)
        worker = _FrameWorker(world, camera_model, pipeline, seed=options.seed)
        self._on_stop(worker.abort)

        await self._fly(plan, site, worker, record, mission_id, sortie_id, report_dir)

        self.progress("frames", worker.frames, None, "处理剩余图像 (finishing frames)")
        worker.close(stall_timeout=60)
        summary.frames, summary.detections = worker.frames, worker.detections

        suspects = pipeline.suspects()
        summary.suspects = len(suspects)
        record(
            "detection.summary",
            f"sortie:{sortie_id}",
            {
                "frames": worker.frames,
                "detections": worker.detections,
                "discarded_too_small": pipeline.merger.dropped_small,
                "discarded_unlocated": worker.unlocated,
                "suspects": len(suspects),
            },
        )
        evidence_ids = self._publish_evidence(
            pipeline, publisher, site.id, mission_id, sortie_id, record
        )
        self._wait_ingested(sessions, evidence_ids, timeout=60)
        summary.planted_found = _count_found(world, suspects)

        with sessions() as session:
            summary.evidence = _count_evidence(session, evidence_ids)
            summary.cases = _count_cases(session, evidence_ids)
            record_summary = summary.to_dict()
            audit.append(session, ACTOR, "sortie.summary", f"sortie:{sortie_id}", record_summary)
            # A signed tree head over the whole run: later proofs and verifications anchor to it.
            log_key = audit.LogKey.load_or_create(settings.keys_dir / "audit-log.key")
            head = audit.issue_head(session, log_key)
            session.commit()
            summary.audit_head_size = int(head.tree_size)
            report = audit.verify(session, public_key=log_key.public_key)
            summary.audit_ok = bool(report.ok)
            summary.audit_entries = int(audit.count(session))
        (report_dir / "summary.json").write_text(
            json.dumps(summary.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )

    # -- stages --------------------------------------------------------------------------
    def _start_evidence_path(self, broker: BrokerHandle, sessions: Any) -> Any:
        """Enroll the vehicle key, start the gateway ingest and the vehicle's publisher."""
        from gateway.devices import register_device
        from gateway.ingest import IngestWorker
        from telemetry.outbox import Outbox
        from telemetry.publisher import EvidencePublisher
        from telemetry.signing import DeviceKey

        settings = self.settings
        key_path = settings.keys_dir / f"{self.vehicle_id}.key"
        key = DeviceKey.load(key_path) if key_path.exists() else DeviceKey.generate()
        if not key_path.exists():
            key.save(key_path)
        with sessions() as session:
            register_device(session, self.vehicle_id, key.public_key_bytes())
            session.commit()
        self._device_key = key

        ingest = IngestWorker(
            host=broker.host,
            port=broker.port,
            session_factory=sessions,
            media_dir=settings.media_dir,
            client_id=f"fieldpatrol-gateway-{self.home_tag}",
            # This gateway serves this demo's vehicle only, and keeps its broker session for
            # minutes, not days: a demo must leave nothing behind on a shared broker.
            vehicle_id=self.vehicle_id,
            session_expiry_s=600,
            mqtt_version=broker.mqtt_version,
        )
        ingest.start()
        self._on_stop(lambda: ingest.stop(timeout=10))

        outbox_dir = settings.home / "outbox"
        outbox_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(outbox_dir / f"{self.vehicle_id}.sqlite")
        self._on_stop(outbox.close)
        publisher = EvidencePublisher(
            outbox,
            host=broker.host,
            port=broker.port,
            client_id=f"fieldpatrol-{self.vehicle_id}",
            session_expiry_s=600,
            mqtt_version=broker.mqtt_version,
        )
        publisher.start()
        self._on_stop(lambda: publisher.stop(timeout=10))
        return publisher

    async def _fly(
        self,
        plan: Any,
        site: Any,
        worker: _FrameWorker,
        record: _Recorder,
        mission_id: str,
        sortie_id: str,
        report_dir: Path,
    ) -> None:
        from simulators.vehicle import SimulatorServer
        from telemetry.link import Vehicle

        options, summary = self.options, self.summary
        launch_lon, launch_lat = site.launch
        sim = SimulatorServer(
            kind="copter",
            home=(launch_lat, launch_lon, 42.0),
            port=0,
            sysid=1,
            speedup=options.speedup,
            seed=options.seed,
            # Evidence is dated by the real clock: at a speed-up, simulated time would run
            # ahead and date captures in the future.
            wall_clock=True,
        )
        url = sim.start()
        self._on_stop(sim.stop)
        tlog_path = self.settings.tlog_dir / f"{sortie_id}.tlog"
        track: list[tuple[float, float]] = []
        async with Vehicle.connect(url, timeout=20, tlog_path=tlog_path) as vehicle:
            self.progress("upload", 0, None, f"上传任务 (uploading to {url})")
            await vehicle.mission.upload(plan.items)
            await vehicle.fence.upload(plan.fence)
            await vehicle.rally.upload(plan.rally)
            record(
                "vehicle.upload",
                f"sortie:{sortie_id}",
                {
                    "mission_id": mission_id,
                    "url": url,
                    "mission_items": len(plan.items),
                    "fence_items": len(plan.fence),
                    "rally_items": len(plan.rally),
                    "verified": True,
                },
            )
            await vehicle.wait_ready(30)
            await vehicle.action.arm()
            record("vehicle.armed", f"sortie:{sortie_id}", {"vehicle": self.vehicle_id})
            await vehicle.action.start_mission()
            record("vehicle.mode", f"sortie:{sortie_id}", {"mode": "AUTO"})

            async def captures() -> None:
                async for pose in vehicle.camera.captures():
                    worker.submit(pose)

            async def positions() -> None:
                total = max(1, len(plan.items) - 1)
                async for pos in vehicle.telemetry.position():
                    if pos.relative_alt_m > 1.0 or track:
                        track.append((pos.lat, pos.lon))
                    self.progress(
                        "flight",
                        float(vehicle.mission_progress or 0),
                        float(total),
                        f"飞行中 frames={worker.frames} queue={worker.pending}",
                    )

            tasks = [asyncio.create_task(captures()), asyncio.create_task(positions())]
            t0 = time.monotonic()
            try:
                flight = await vehicle.wait_landed(timeout=options.flight_timeout_s)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            summary.flight_time_s = round(float(getattr(flight, "flight_time_s", 0.0)), 1) or round(
                (time.monotonic() - t0) * options.speedup, 1
            )
            record(
                "vehicle.landed", f"sortie:{sortie_id}", {"flight_time_s": summary.flight_time_s}
            )
        summary.distance_m = round(
            sum(_haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(track)),
            1,
        )
        summary.tlog = str(tlog_path)
        summary.tlog_sha256 = hashlib.sha256(tlog_path.read_bytes()).hexdigest()
        (report_dir / "track.geojson").write_text(
            json.dumps(
                {
                    "type": "Feature",
                    "properties": {"sortie_id": sortie_id},
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[lo, la] for la, lo in track],
                    },
                }
            ),
            encoding="utf-8",
        )
        record(
            "sortie.telemetry",
            f"sortie:{sortie_id}",
            {
                "tlog_sha256": summary.tlog_sha256,
                "distance_m": summary.distance_m,
                "flight_time_s": summary.flight_time_s,
                "track_points": len(track),
            },
        )

    def _publish_evidence(
        self,
        pipeline: Any,
        publisher: Any,
        site_id: str,
        mission_id: str,
        sortie_id: str,
        record: _Recorder,
    ) -> list[str]:
        """Sign each suspect's evidence with the vehicle key and hand it to the outbox."""
        items = pipeline.evidence(
            site_id=site_id,
            vehicle_id=self.vehicle_id,
            mission_id=mission_id,
            sortie_id=sortie_id,
            first_sequence=publisher_next_sequence(publisher, self.vehicle_id),
        )
        ids: list[str] = []
        for (message, media), suspect in zip(items, pipeline.suspects(), strict=True):
            signed = self._device_key.sign(message)
            publisher.submit(signed, media)
            ids.append(signed.id)
            record(
                "detection.kept",
                f"evidence:{signed.id}",
                {
                    "class": suspect.class_name,
                    "confidence": round(float(suspect.confidence), 3),
                    "frames": len(suspect.frames),
                    "lat": round(suspect.lat, 7),
                    "lon": round(suspect.lon, 7),
                },
            )
        publisher.flush(timeout=30)
        return ids

    def _wait_ingested(self, sessions: Any, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with sessions() as session:
                if _count_evidence(session, ids) >= len(ids):
                    return
            time.sleep(0.1)
        raise DemoError(
            f"the gateway stored fewer than {len(ids)} evidence items within {timeout:.0f} s; "
            "check the broker and `patrol doctor`"
        )


def publisher_next_sequence(publisher: Any, vehicle_id: str) -> int:
    """The vehicle's next evidence sequence number (never reused across runs on one home)."""
    return int(publisher.outbox.next_sequence(vehicle_id))


def _shown_url(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':')[0]}@{host}"
    return url


def _count_evidence(session: Any, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from cases.models import Evidence

    if not ids:
        return 0
    return int(
        session.execute(
            select(func.count()).select_from(Evidence).where(Evidence.id.in_(ids))
        ).scalar_one()
    )


def _count_cases(session: Any, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from cases.models import CaseEvidence

    if not ids:
        return 0
    return int(
        session.execute(
            select(func.count(func.distinct(CaseEvidence.case_id))).where(
                CaseEvidence.evidence_id.in_(ids)
            )
        ).scalar_one()
    )


def _count_found(world: Any, suspects: list[Any], within_m: float = 10.0) -> int:
    found = 0
    for planted in world.violations:
        if any(
            s.class_name == planted.class_name
            and _haversine_m(s.lat, s.lon, planted.lat, planted.lon) <= within_m
            for s in suspects
        ):
            found += 1
    return found


__all__ = ["DemoError", "DemoOptions", "DemoRun", "DemoSummary"]
