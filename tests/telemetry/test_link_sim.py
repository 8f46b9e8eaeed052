"""The link flying real missions over real MAVLink sockets: the same test bodies run against
the built-in simulator (always) and ArduPilot SITL (marked ``sitl``; they run when
FIELDPATROL_SITL_COPTER / FIELDPATROL_SITL_ROVER name the binaries, and skip with the reason
otherwise)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_RALLY_POINT,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    MissionItem,
    make_item,
    renumber,
)
from telemetry.errors import CommandDeniedError
from telemetry.link import (
    Failsafe,
    FenceBreach,
    Landed,
    LinkLost,
    LinkRegained,
    MissionFinished,
    ModeChanged,
    Vehicle,
    WaypointReached,
)

HOME = (41.7003, 123.4005, 42.0)  # lat, lon, alt AMSL
SPEEDUP = 60.0
DEG_PER_M = 1 / 111_320


@dataclass
class Backend:
    name: str
    kind: str
    url: str
    server: Any  # SimulatorServer, or the SITL process handle

    async def gps_loss(self, v: Vehicle) -> None:
        if hasattr(self.server, "faults"):
            self.server.faults.gps_loss(True)
        else:  # ArduPilot SITL's own switch, under whichever name this build has
            from simulators.sitl import GPS_SWITCHES
            from telemetry.link.params import ParamTimeoutError

            for name, off, _on in GPS_SWITCHES:
                try:
                    await v.param.set(name, off)
                    return
                except ParamTimeoutError:
                    continue
            pytest.fail(f"SITL has none of the GPS switches {GPS_SWITCHES}")

    async def low_battery(self, v: Vehicle) -> None:
        if hasattr(self.server, "faults"):
            self.server.faults.low_battery(5.0)
        else:  # SITL: a battery voltage below BATT_LOW_VOLT
            await v.param.set("BATT_LOW_VOLT", 10.5)
            await v.param.set("SIM_BATT_VOLTAGE", 9.0)

    def link_loss(self, sim_seconds: float) -> None:
        if hasattr(self.server, "faults"):
            self.server.faults.link_loss(sim_seconds)
        else:
            pytest.skip(f"{self.name}: no link cut on this backend")


BACKENDS = [
    pytest.param(("sim", "copter"), id="sim-copter"),
    pytest.param(("sim", "rover"), id="sim-rover"),
    pytest.param(("sitl", "copter"), id="sitl-copter", marks=pytest.mark.sitl),
    pytest.param(("sitl", "rover"), id="sitl-rover", marks=pytest.mark.sitl),
]


def _start(which: str, kind: str) -> Iterator[Backend]:
    if which == "sim":
        from simulators.vehicle import SimulatorServer

        with SimulatorServer(kind=kind, home=HOME, speedup=SPEEDUP, seed=1) as sim:
            yield Backend(f"sim-{kind}", kind, sim.url, sim)
        return
    env = f"FIELDPATROL_SITL_{kind.upper()}"
    binary = os.environ.get(env)
    if not binary:
        pytest.skip(f"{env} is not set: no ArduPilot SITL {kind} binary to test against")
    try:
        sitl_mod: Any = importlib.import_module("simulators.sitl")
    except ImportError:
        pytest.skip("simulators.sitl (the SITL launcher) is not available in this tree")
    with sitl_mod.SitlProcess(binary, kind=kind, home=HOME, speedup=SPEEDUP) as proc:
        yield Backend(f"sitl-{kind}", kind, proc.url, proc)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    which, kind = request.param
    yield from _start(which, kind)


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    """(lon, lat) of a point north/east of home."""
    import math

    lat = HOME[0] + north_m * DEG_PER_M
    lon = HOME[1] + east_m * DEG_PER_M / math.cos(math.radians(HOME[0]))
    return round(lon, 7), round(lat, 7)


def patrol_items(kind: str) -> list[MissionItem]:
    """A short lawnmower with the camera triggering every 15 m, ending with RTL."""
    lon0, lat0 = offset(0, 0)
    alt = 20.0 if kind == "copter" else 0.0
    items = [make_item(MAV_CMD_NAV_WAYPOINT, lon0, lat0, HOME[2], frame=MAV_FRAME_GLOBAL)]
    if kind == "copter":
        items.append(make_item(MAV_CMD_NAV_TAKEOFF, alt_m=alt))
    items.append(make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(15.0, 0.0, 1.0, 0.0)))
    for north, east in [(60, 0), (60, 40), (0, 40), (0, 80)]:
        items.append(make_item(MAV_CMD_NAV_WAYPOINT, *offset(north, east), alt))
    items.append(make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(0.0, 0.0, 0.0, 0.0)))
    items.append(make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return renumber(items)


def fence_items(half_m: float = 150.0) -> list[MissionItem]:
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    return renumber(
        [
            make_item(
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                *offset(n, e),
                params=(4.0, 0.0, 0.0, 0.0),
                frame=MAV_FRAME_GLOBAL,
                mission_type=1,
            )
            for n, e in corners
        ]
    )


def rally_items() -> list[MissionItem]:
    return renumber([make_item(MAV_CMD_NAV_RALLY_POINT, *offset(-20, -20), 15.0, mission_type=2)])


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_patrol_upload_verify_fly_and_land(backend: Backend, tmp_path: Path) -> None:
    tlog = tmp_path / "sortie.tlog"
    async with Vehicle.connect(backend.url, timeout=15, tlog_path=tlog) as v:
        mission = patrol_items(backend.kind)
        got = await v.mission.upload(mission)  # read back and compared inside
        assert [i.command for i in got] == [i.command for i in mission]
        assert len(await v.fence.upload(fence_items())) == 4
        assert len(await v.rally.upload(rally_items())) == 1
        captures: list[Any] = []

        async def collect() -> None:
            async for pose in v.camera.captures():
                captures.append(pose)

        task = asyncio.create_task(collect())
        await v.action.arm(wait_ready_s=20)
        await v.action.start_mission()
        report = await v.wait_landed(timeout=60, disarmed=backend.kind == "copter")
        task.cancel()
        kinds = [e.kind for e in v.event_log]
    assert report.mission_finished, kinds
    reached = [e.seq for e in v.event_log if isinstance(e, WaypointReached)]
    nav_seqs = [i.seq for i in mission if i.command == MAV_CMD_NAV_WAYPOINT and i.seq > 0]
    assert set(nav_seqs) <= set(reached)
    assert any(isinstance(e, MissionFinished) for e in v.event_log)
    if backend.kind == "copter":
        assert any(isinstance(e, Landed) for e in v.event_log)
        assert not v.state.armed
    assert report.flight_time_s > 10  # vehicle time, not wall time
    # The camera fired along the legs (every 15 m over ~220 m), at the right places.
    assert len(captures) >= 8
    lon_min, lat_min = offset(-10, -10)
    lon_max, lat_max = offset(70, 90)
    assert all(lat_min < p.lat < lat_max and lon_min < p.lon < lon_max for p in captures)
    if backend.kind == "copter":
        assert max(p.alt_agl_m for p in captures) == pytest.approx(20.0, abs=2.0)
    assert v.tlog_sha256 == hashlib.sha256(tlog.read_bytes()).hexdigest()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_arm_without_gps_is_denied_with_reason(backend: Backend) -> None:
    async with Vehicle.connect(backend.url, timeout=15) as v:
        await v.wait_ready(30)  # armable now: the refusal below is the GPS's doing
        # A patrol arms in a position mode; ArduPilot lets a vehicle arm without GPS in
        # MANUAL/STABILIZE, where no position is needed, so the refusal is asked for in GUIDED.
        await v.action.set_mode("GUIDED")
        await backend.gps_loss(v)
        await v.wait_for(lambda s: s.gps_fix_type < 3, 10, "GPS fix lost")
        with pytest.raises(CommandDeniedError) as err:
            await v.action.arm()
    assert err.value.result_name in ("MAV_RESULT_FAILED", "MAV_RESULT_DENIED")
    assert any("PreArm" in r and ("Fix" in r or "GPS" in r) for r in err.value.reasons), (
        err.value.reasons
    )


def notched_fence_items() -> list[MissionItem]:
    """A 120 m square around home with a V notch cut into its north side (apex 10 m north
    of home): two points in the northern lobes are both inside, the straight leg between
    them is not."""
    corners = [(-60, -60), (60, -60), (60, -20), (10, 0), (60, 20), (60, 60), (-60, 60)]
    return renumber(
        [
            make_item(
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                *offset(n, e),
                params=(float(len(corners)), 0.0, 0.0, 0.0),
                frame=MAV_FRAME_GLOBAL,
                mission_type=1,
            )
            for n, e in corners
        ]
    )


async def _arrive(v: Vehicle, lat: float, lon: float, within_m: float) -> None:
    """Until the reported position is within `within_m` of (lat, lon)."""
    import math

    async for p in v.telemetry.position():
        north = (p.lat - lat) / DEG_PER_M
        east = (p.lon - lon) / DEG_PER_M * math.cos(math.radians(HOME[0]))
        if math.hypot(north, east) < within_m:
            return


async def _climb(v: Vehicle, alt_m: float) -> None:
    """Until the reported height above home passes `alt_m`."""
    async for p in v.telemetry.position():
        if p.relative_alt_m > alt_m:
            return


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS[:1] + BACKENDS[2:3], indirect=True)
async def test_fence_refuses_goto_outside_and_breach_on_the_way_triggers_rtl(
    backend: Backend,
) -> None:
    """ArduPilot checks a GUIDED destination against the fence, never the leg to it: a goto
    outside is refused and the vehicle holds; a goto to an inside point across the notch
    breaches on the way, and the fence action (RTL) brings it back."""
    async with Vehicle.connect(backend.url, timeout=15) as v:
        await v.fence.upload(notched_fence_items())
        assert await v.param.set("FENCE_ACTION", 1) == 1  # RTL
        await v.action.fence_enable(True)
        await v.wait_ready(20)
        await v.action.set_mode("GUIDED")
        await v.action.arm(wait_ready_s=20)
        await v.action.takeoff(15.0)
        await v.wait_for(lambda s: s.flew, 20, "airborne")
        await asyncio.wait_for(_climb(v, 12.0), 30)
        lon, lat = offset(150, 0)
        with pytest.raises(CommandDeniedError):
            await v.action.goto(lat, lon, 15.0)
        assert not v.state.fence_breached and v.state.mode == "GUIDED"
        west_n, west_e = 45.0, -40.0
        lon, lat = offset(west_n, west_e)
        await v.action.goto(lat, lon, 15.0)  # inside the western lobe: accepted
        await asyncio.wait_for(_arrive(v, lat, lon, within_m=4.0), 40)
        assert not v.state.fence_breached
        lon, lat = offset(west_n, 40.0)  # the eastern lobe: inside, but across the notch
        await v.action.goto(lat, lon, 15.0)
        await v.wait_for(lambda s: s.fence_breached, 30, "fence breach in the notch")
        await v.wait_for(lambda s: s.mode == "RTL", 5, "fence action RTL")
    breach = [e for e in v.event_log if isinstance(e, FenceBreach)]
    assert breach and breach[0].breach_type == "FENCE_BREACH_BOUNDARY"
    assert any(isinstance(e, ModeChanged) and e.new_mode == "RTL" for e in v.event_log)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS[:1] + BACKENDS[2:3], indirect=True)
async def test_link_drop_mid_flight_reconnects_and_records_gap(backend: Backend) -> None:
    async with Vehicle.connect(backend.url, timeout=15, link_timeout_s=0.5) as v:
        await v.mission.upload(patrol_items(backend.kind))
        await v.action.arm(wait_ready_s=20)
        await v.action.start_mission()
        await v.wait_for(lambda s: s.flew, 20, "airborne")
        backend.link_loss(sim_seconds=SPEEDUP * 1.5)  # 1.5 s of wall time
        await v.wait_for(lambda s: not s.link_up, 5, "link lost")
        await v.wait_for(lambda s: s.link_up, 10, "link regained")
        report = await v.wait_landed(timeout=60, disarmed=True)
    lost = [e for e in v.event_log if isinstance(e, LinkLost)]
    regained = [e for e in v.event_log if isinstance(e, LinkRegained)]
    assert len(lost) == 1 and len(regained) == 1
    assert 1.2 <= regained[0].gap_s <= 8.0  # 1.5 s cut; the simulator may lag under load
    assert v.state.gaps[0].gap_s == regained[0].gap_s
    assert report.mission_finished


@pytest.mark.parametrize("backend", BACKENDS[:1] + BACKENDS[2:3], indirect=True)
async def test_battery_failsafe_is_an_event_with_the_action(backend: Backend) -> None:
    async with Vehicle.connect(backend.url, timeout=15) as v:
        await v.wait_ready(20)
        await v.action.set_mode("GUIDED")
        await v.action.arm()
        await v.action.takeoff(10.0)
        await v.wait_for(lambda s: s.flew, 20, "airborne")
        await backend.low_battery(v)
        await v.wait_for(lambda s: s.mode in ("RTL", "LAND"), 20, "battery failsafe action")
    failsafes = [e for e in v.event_log if isinstance(e, Failsafe)]
    assert failsafes and "Battery" in failsafes[0].reason and not failsafes[0].cleared
    assert any(isinstance(e, ModeChanged) and e.new_mode in ("RTL", "LAND") for e in v.event_log)


@pytest.mark.parametrize("backend", BACKENDS[:1] + BACKENDS[2:3], indirect=True)
async def test_pause_resume_then_land_mid_mission(backend: Backend) -> None:
    import math

    async with Vehicle.connect(backend.url, timeout=15) as v:
        await v.mission.upload(patrol_items(backend.kind))
        await v.wait_ready(30)
        await v.action.arm()
        await v.action.start_mission()
        await v.wait_for(lambda s: s.mission_current >= 4, 30, "on the first survey leg")
        await v.action.pause()
        await asyncio.sleep(0.3)  # let it brake
        stream = v.telemetry.position()
        first = await anext(stream)
        seq = v.state.mission_current
        await asyncio.sleep(0.5)  # ~30 s of vehicle time at this speed-up
        last = await anext(stream)
        moved_m = math.hypot(
            (last.lat - first.lat) / DEG_PER_M,
            (last.lon - first.lon) / DEG_PER_M * math.cos(math.radians(HOME[0])),
        )
        assert moved_m < 2.0 and v.state.mission_current == seq  # holding, not flying on
        await v.action.resume()
        await v.wait_for(lambda s: s.mission_current > seq, 30, "mission continued")
        await v.action.land()
        report = await v.wait_landed(timeout=60, disarmed=True)
        await stream.aclose()  # type: ignore[attr-defined]
    assert not report.mission_finished
    assert any(isinstance(e, ModeChanged) and e.new_mode == "LAND" for e in v.event_log)
    assert any(isinstance(e, Landed) for e in v.event_log)
