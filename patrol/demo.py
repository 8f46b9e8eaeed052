"""One simulated patrol, end to end: the walking skeleton behind `patrol demo`.

Site file -> survey plan checked against the fence -> built-in simulated copter on a local
MAVLink TCP port -> upload mission, fence and rally, fly AUTO until landed -> synthetic camera
frames at every CAMERA_FEEDBACK -> detector -> georeference and merge -> signed evidence through
the durable outbox over MQTT -> gateway ingest into the case record -> cases opened -> every
step in the audit log. Every stage is the real one; none returns canned results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from patrol.config import Settings
from patrol.ground import Ground, GroundError
from patrol.sortie import (
    SortieError,
    SortieRun,
    SortieSpec,
    count_cases,
    count_evidence,
    haversine_m,
)

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


class DemoRun:
    """Everything one `patrol demo` run starts, so that all of it is stopped at the end.

    The demo is one `patrol.sortie.SortieRun` of the built-in simulated copter against a
    `patrol.ground.Ground` of the data directory, plus the summary, a signed tree head over
    the audit log and its verification.
    """

    def __init__(self, settings: Settings, options: DemoOptions, progress: Progress | None = None):
        self.settings = settings
        self.options = options
        self.progress = progress or _no_progress
        self.summary = DemoSummary()
        home_tag = hashlib.sha256(str(settings.home).encode("utf-8")).hexdigest()[:8]
        self.home_tag = home_tag
        self.vehicle_id = options.vehicle_id or f"demo-copter-{home_tag}"

    def run(self) -> DemoSummary:
        started = time.monotonic()
        try:
            self._run()
        except (GroundError, SortieError) as exc:
            raise DemoError(str(exc)) from None
        self.summary.wall_time_s = round(time.monotonic() - started, 1)
        return self.summary

    def _run(self) -> None:
        from cases import audit

        settings, options, summary = self.settings, self.options, self.summary
        settings.ensure_dirs()
        summary.database = settings.database_url
        self.progress("setup", 0, None, "数据库迁移 (database migrations)")
        ground = Ground(settings, actor=ACTOR, allow_private_broker=options.allow_private_broker)
        with contextlib.ExitStack() as stack:
            stack.callback(ground.stop)
            ground.open_database()
            spec = SortieSpec(
                site=options.site_path,
                vehicle_kind="copter",
                vehicle_id=self.vehicle_id,
                altitude_agl_m=options.altitude_agl_m,
                seed=options.seed,
                speedup=options.speedup,
                flight_timeout_s=options.flight_timeout_s,
            )
            run = SortieRun(ground, spec, progress=self.progress)
            summary.sortie_id, summary.mission_id = run.sortie_id, run.mission_id
            summary.report_dir = str(run.report_dir)
            run.prepare()
            summary.planted_violations = len(run.world.violations)
            # Broker, device identity and gateway ingest of the vehicle.
            self.progress("setup", 0, None, "MQTT 代理 (broker)")
            broker = ground.open_broker()
            summary.broker = f"{broker.url} ({broker.kind})"
            result = run.run()
            if result.status != "completed":
                raise DemoError(
                    f"the demo sortie ended {result.status}: {result.reason or 'no reason given'}"
                )
            summary.flight_time_s = result.flight_time_s
            summary.distance_m = result.distance_m
            summary.waypoints = result.waypoints
            summary.frames, summary.detections = result.frames, result.detections
            summary.suspects = len(result.suspects)
            summary.tlog, summary.tlog_sha256 = result.tlog, result.tlog_sha256
            summary.planted_found = _count_found(run.world, run.pipeline.suspects())
            evidence_ids = result.evidence_ids

            with ground.sessions() as session:
                summary.evidence = count_evidence(session, evidence_ids)
                summary.cases = count_cases(session, evidence_ids)
                record_summary = summary.to_dict()
                audit.append(
                    session, ACTOR, "sortie.summary", f"sortie:{run.sortie_id}", record_summary
                )
                # A signed tree head over the whole run: later proofs anchor to it.
                log_key = audit.LogKey.load_or_create(settings.keys_dir / "audit-log.key")
                head = audit.issue_head(session, log_key)
                session.commit()
                summary.audit_head_size = int(head.tree_size)
                report = audit.verify(session, public_key=log_key.public_key)
                summary.audit_ok = bool(report.ok)
                summary.audit_entries = int(audit.count(session))
            (run.report_dir / "summary.json").write_text(
                json.dumps(summary.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
            )


def _count_found(world: Any, suspects: list[Any], within_m: float = 10.0) -> int:
    found = 0
    for planted in world.violations:
        if any(
            s.class_name == planted.class_name
            and haversine_m(s.lat, s.lon, planted.lat, planted.lon) <= within_m
            for s in suspects
        ):
            found += 1
    return found


__all__ = ["DemoError", "DemoOptions", "DemoRun", "DemoSummary"]
