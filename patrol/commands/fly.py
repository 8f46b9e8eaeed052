"""`patrol fly`: fly one mission file through MAVLink and record the sortie.

Uploads the mission (and the fence and rally points of the file, or of `--site`), verifies each
by reading it back, arms, flies AUTO with a live progress bar, waits for landing and disarm, and
records the sortie (database row, audit entry, `.tlog` with its sha256) under FIELDPATROL_HOME.
Exit 0 only when the mission completed and the vehicle landed and disarmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from patrol.config import ConfigError, Settings
from patrol.output import console, emit_json, fail

app = typer.Typer(help="执行任务 (Fly a mission file through MAVLink).")


@dataclass
class SortieResult:
    sortie_id: str
    vehicle_id: str
    url: str
    mission_file: str
    started_at: datetime
    ended_at: datetime | None = None
    completed: bool = False
    landed: bool = False
    disarmed: bool = False
    waypoints_reached: int = 0
    waypoints_total: int = 0
    flight_time_s: float = 0.0
    photos: int = 0
    mission_items: int = 0
    fence_items: int = 0
    rally_items: int = 0
    tlog: str = ""
    tlog_sha256: str = ""
    link_gaps: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    connected: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "sortie_id": self.sortie_id,
            "vehicle_id": self.vehicle_id,
            "connect": self.url,
            "mission_file": self.mission_file,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "completed": self.completed,
            "landed": self.landed,
            "disarmed": self.disarmed,
            "waypoints_reached": self.waypoints_reached,
            "waypoints_total": self.waypoints_total,
            "flight_time_s": self.flight_time_s,
            "photos": self.photos,
            "mission_items": self.mission_items,
            "fence_items": self.fence_items,
            "rally_items": self.rally_items,
            "tlog": self.tlog,
            "tlog_sha256": self.tlog_sha256,
            "link_gaps": self.link_gaps,
            "error": self.error,
            "recorded": self.connected,
        }


def _cruise_alt(items: list[Any]) -> float:
    alts = [i.alt_m for i in items[1:] if i.frame in (3, 6) and i.alt_m > 0]
    return max(alts) if alts else 30.0


def _load(mission_file: Path, site_file: Path | None) -> tuple[Any, str | None]:
    from missions.check import check_mission
    from missions.errors import MissionsError
    from missions.formats import load_mission

    site_id: str | None = None
    try:
        mf = load_mission(mission_file)
        if site_file is not None:
            from missions.fence import fence_items, rally_items
            from missions.site import load_site

            site = load_site(site_file)
            site_id = site.id
            report = check_mission(site, mf.items, vehicle=mf.vehicle)
            if not report.ok:
                fail(
                    f"mission {mission_file} does not fit site {site_file}: "
                    + "; ".join(report.problems[:3])
                )
            if not mf.fence:
                mf.fence = fence_items(site)
            if not mf.rally:
                mf.rally = rally_items(site, _cruise_alt(mf.items))
    except MissionsError as exc:
        fail(str(exc))
    if len(mf.items) < 2:
        fail(f"mission file {mission_file}: it holds no mission items beyond home")
    return mf, site_id


async def _fly(
    mf: Any,
    result: SortieResult,
    tlog_path: Path,
    timeout_s: float,
    connect_timeout_s: float,
    progress: Any,
    mqtt: tuple[str, int, str] | None = None,
) -> None:
    from telemetry.link import Vehicle

    # MAV_CMD_NAV_* are numbered below 100: the items the vehicle reports as reached.
    nav_seqs = {i.seq for i in mf.items[1:] if i.command < 100}
    result.waypoints_total = len(nav_seqs)
    async with contextlib.AsyncExitStack() as stack:
        v = await stack.enter_async_context(
            Vehicle.connect(result.url, timeout=connect_timeout_s, tlog_path=tlog_path)
        )
        result.connected = True
        if mqtt is not None:
            from telemetry.mqtt_bridge import MqttBridge

            host, port, site_id = mqtt
            bridge = MqttBridge(
                v,
                site_id=site_id,
                vehicle_id=result.vehicle_id,
                host=host,
                port=port,
                sortie_id=result.sortie_id,
            )
            await stack.enter_async_context(bridge)
        try:
            progress("upload", f"uploading {len(mf.items)} mission items")
            await v.mission.upload(mf.items)
            result.mission_items = len(mf.items)
            if mf.fence:
                await v.fence.upload(mf.fence)
                result.fence_items = len(mf.fence)
            if mf.rally:
                await v.rally.upload(mf.rally)
                result.rally_items = len(mf.rally)
            progress("arm", "arming")
            photos = 0

            async def count_photos() -> None:
                nonlocal photos
                async for _pose in v.camera.captures():
                    photos += 1

            photo_task = asyncio.create_task(count_photos())
            progress("arm", "waiting for GPS fix, EKF and pre-arm checks")
            await v.wait_ready(60, armable=False)
            if v.state.is_copter:
                await v.action.set_mode("GUIDED")
            await v.action.arm(wait_ready_s=30)
            await v.action.start_mission()

            async def show() -> None:
                while True:
                    reached = len(nav_seqs & set(v.state.reached))
                    progress(
                        "fly",
                        f"{v.state.mode} item {v.mission_progress}/{len(mf.items) - 1} "
                        f"photos {photos}",
                        reached,
                        len(nav_seqs),
                    )
                    await asyncio.sleep(0.2)

            show_task = asyncio.create_task(show())
            try:
                report = await v.wait_landed(timeout=timeout_s, disarmed=v.state.is_copter)
                if v.state.is_rover and v.state.armed:
                    await v.action.disarm()
            finally:
                for task in (show_task, photo_task):
                    task.cancel()
                await asyncio.gather(show_task, photo_task, return_exceptions=True)
            result.flight_time_s = report.flight_time_s
            result.completed = report.mission_finished
            result.photos = photos
            result.disarmed = not v.state.armed
            result.landed = v.state.on_ground
        finally:
            result.waypoints_reached = len(nav_seqs & set(v.state.reached))
            result.link_gaps = [g.to_dict() for g in v.state.gaps]
            result.events = [e.to_dict() for e in v.event_log]
    result.tlog = str(tlog_path)
    result.tlog_sha256 = v.tlog_sha256 or ""


def _record(settings: Settings, result: SortieResult) -> None:
    """The sortie row and one audit entry (patrol/ is allowed to write the audit log)."""
    from cases import audit
    from cases.db import make_engine, session_factory, upgrade
    from cases.models import Sortie

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            session.add(
                Sortie(
                    id=result.sortie_id,
                    vehicle_id=result.vehicle_id,
                    started_at=result.started_at,
                    ended_at=result.ended_at,
                    status="completed" if result.completed else "aborted",
                    photos=result.photos,
                    tlog_path=result.tlog,
                )
            )
            audit.append(
                session,
                f"user:{getpass.getuser()}",
                "sortie.flown",
                f"sortie:{result.sortie_id}",
                {k: v for k, v in result.summary().items() if k != "events"},
            )
    finally:
        engine.dispose()


@app.command()
def fly(
    mission_file: Path = typer.Argument(..., help="Mission file: .plan, .waypoints or .geojson."),
    connect: str = typer.Option(
        ...,
        "--connect",
        help="Vehicle URL: tcp:HOST:PORT, udp:HOST:PORT, udpin:ADDR:PORT, serial:DEVICE:BAUD.",
    ),
    site: Path = typer.Option(
        None, "--site", help="Site file (GeoJSON/KML): check the mission, add its fence/rally."
    ),
    vehicle_id: str = typer.Option("uav-1", "--vehicle-id", help="Vehicle id for the record."),
    timeout: float = typer.Option(1800.0, help="Longest flight to wait for, seconds."),
    connect_timeout: float = typer.Option(15.0, help="Wait this long for a heartbeat, seconds."),
    mqtt: bool = typer.Option(
        False, "--mqtt", help="Publish telemetry, events and status to the configured broker."
    ),
    site_id: str = typer.Option(
        None, "--site-id", help="Site id for the MQTT topics (default: the --site file's id)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the sortie summary as JSON."),
) -> None:
    """Upload, verify, arm, fly AUTO, land; record the sortie and its tlog."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from telemetry.errors import LinkConfigError, LinkError
    from telemetry.link.url import parse_url

    try:
        settings = Settings.load()
        settings.ensure_dirs()
        parse_url(connect)
    except (ConfigError, LinkConfigError) as exc:
        fail(str(exc))
    mf, file_site_id = _load(mission_file, site)
    mqtt_target: tuple[str, int, str] | None = None
    if mqtt:
        topic_site = site_id or file_site_id
        if not topic_site:
            fail("--mqtt needs a site id for the topics: pass --site FILE or --site-id ID")
        mqtt_target = (settings.mqtt_host, settings.mqtt_port, topic_site)
    sortie_id = f"S-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    result = SortieResult(
        sortie_id=sortie_id,
        vehicle_id=vehicle_id,
        url=connect,
        mission_file=str(mission_file),
        started_at=datetime.now(UTC),
    )
    tlog_path = settings.tlog_dir / f"{sortie_id}.tlog"
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=json_output) as bars:
        task = bars.add_task("connecting", stage="connect", count="", total=None)

        def progress(stage: str, text: str, done: float = 0, total: float | None = None) -> None:
            count = f"{done:.0f}/{total:.0f} waypoints" if total else ""
            bars.update(
                task, stage=stage, description=text, completed=done, total=total, count=count
            )

        try:
            asyncio.run(
                _fly(mf, result, tlog_path, timeout, connect_timeout, progress, mqtt_target)
            )
        except (LinkError, TimeoutError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        except KeyboardInterrupt:
            result.error = "interrupted"
    result.ended_at = datetime.now(UTC)
    if result.connected:
        if not result.tlog:
            import hashlib

            result.tlog = str(tlog_path)
            result.tlog_sha256 = hashlib.sha256(tlog_path.read_bytes()).hexdigest()
        _record(settings, result)
    else:
        tlog_path.unlink(missing_ok=True)  # nothing was said on the link: no sortie
    summary = result.summary()
    if json_output:
        emit_json(summary)
    else:
        console.print(
            f"sortie {sortie_id}: completed={result.completed} landed={result.landed} "
            f"disarmed={result.disarmed} waypoints {result.waypoints_reached}/"
            f"{result.waypoints_total} flight {result.flight_time_s:.0f} s photos {result.photos}"
        )
        console.print(f"tlog {result.tlog} sha256 {result.tlog_sha256}")
    if result.error:
        typer.echo(f"error: {result.error}", err=True)
    ok = result.completed and result.landed and result.disarmed and not result.error
    raise typer.Exit(0 if ok else 1)
