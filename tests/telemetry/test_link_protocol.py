"""The link against a scripted autopilot on a real TCP socket: the mission protocol both
ways, commands and their answers, and every fault that must end in a clear error in time."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
from pymavlink import mavutil
from test_link_peer import FakeAutopilot, PeerScript

from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_RALLY_POINT,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
    MissionItem,
    make_item,
    renumber,
)
from telemetry.errors import (
    CommandDeniedError,
    CommandTimeoutError,
    ConnectionFailedError,
    HeartbeatTimeoutError,
    LinkConfigError,
    LinkLostError,
    LinkTimeoutError,
    MissionSequenceError,
    MissionTimeoutError,
    MissionUploadError,
    MissionVerifyError,
    ModeError,
)
from telemetry.link import LinkLost, LinkRegained, Vehicle, parse_url
from telemetry.link.mission import compare_items

LAT0, LON0 = 41.8057, 123.4315


def survey_items(n: int = 12) -> list[MissionItem]:
    items = [make_item(MAV_CMD_NAV_WAYPOINT, LON0, LAT0, 0.0, frame=MAV_FRAME_GLOBAL)]
    items.append(make_item(MAV_CMD_NAV_TAKEOFF, alt_m=30.0))
    items.append(make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(25.0, 0.0, 1.0, 0.0)))
    for i in range(n):
        items.append(
            make_item(
                MAV_CMD_NAV_WAYPOINT,
                LON0 + 0.0003 * (i % 4),
                LAT0 + 0.00021 * i,
                30.0 + 0.123 * i,
                params=(float(i % 3), 0.0, 0.0, 0.0),
            )
        )
    items.append(make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return renumber(items)


def fence_items() -> list[MissionItem]:
    corners = [(0, 0), (0.002, 0), (0.002, 0.002), (0, 0.002)]
    return renumber(
        [
            make_item(
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                LON0 + dx,
                LAT0 + dy,
                params=(4.0, 0.0, 0.0, 0.0),
                frame=MAV_FRAME_GLOBAL,
                mission_type=1,
            )
            for dx, dy in corners
        ]
    )


def rally_items() -> list[MissionItem]:
    return renumber(
        [
            make_item(MAV_CMD_NAV_RALLY_POINT, LON0 + 0.001, LAT0, 20.0, mission_type=2),
        ]
    )


def test_url_forms() -> None:
    assert parse_url("tcp:127.0.0.1:5760").mavutil_device == "tcp:127.0.0.1:5760"
    assert parse_url("udp://10.0.0.2:14550").mavutil_device == "udpout:10.0.0.2:14550"
    assert parse_url("udpin:0.0.0.0:14550").mavutil_device == "udpin:0.0.0.0:14550"
    serial = parse_url("serial:/dev/ttyUSB0:57600")
    assert (serial.device, serial.baud) == ("/dev/ttyUSB0", 57600)
    for bad in ("tcp:host", "ftp:x:1", "tcp:127.0.0.1:99999", "serial:/dev/x:fast"):
        with pytest.raises(LinkConfigError):
            parse_url(bad)


async def test_upload_download_verify_all_three_types(tmp_path: Path) -> None:
    home = (LAT0 + 0.00005, LON0 - 0.00004, 55.0)
    with FakeAutopilot(PeerScript(home_item=home)) as peer:
        tlog = tmp_path / "sortie.tlog"
        async with Vehicle.connect(peer.url, timeout=5, tlog_path=str(tlog)) as v:
            mission = survey_items()
            got = await v.mission.upload(mission)
            # Item 0 comes back as the autopilot's own home, and that is fine.
            assert (got[0].lat_deg, got[0].lon_deg) == (home[0], home[1])
            assert [i.command for i in got] == [i.command for i in mission]
            assert got[5].lat_deg == pytest.approx(mission[5].lat_deg, abs=1e-7)
            await v.fence.upload(fence_items())
            await v.rally.upload(rally_items())
            assert len(peer.stored[0]) == len(mission)
            assert [m.command for m in peer.stored[1]] == [5001] * 4
            assert len(await v.rally.download()) == 1
            await v.fence.clear()
            assert peer.stored[1] == []
        sha = v.tlog_sha256
    data = tlog.read_bytes()
    assert sha == hashlib.sha256(data).hexdigest()
    # The tlog holds both directions, readable by pymavlink's own log reader.
    log = mavutil.mavlink_connection(str(tlog))
    kinds: dict[str, int] = {}
    while (m := log.recv_match()) is not None:
        kinds[m.get_type()] = kinds.get(m.get_type(), 0) + 1
    assert kinds["MISSION_ITEM_INT"] >= 2 * len(mission)  # sent up and read back
    assert kinds["MISSION_REQUEST_INT"] >= len(mission)
    assert kinds["HEARTBEAT"] >= 2


async def test_legacy_mission_request_gets_float_items() -> None:
    with FakeAutopilot(PeerScript(legacy_requests=True)) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            await v.mission.upload(survey_items(3))
            assert {m.get_type() for m in peer.stored[0]} == {"MISSION_ITEM"}


async def test_nack_raises_with_result_name() -> None:
    script = PeerScript(upload_nack=4)  # MAV_MISSION_NO_SPACE
    with FakeAutopilot(script) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            with pytest.raises(MissionUploadError) as err:
                await v.mission.upload(survey_items(3))
    assert err.value.result_name == "MAV_MISSION_NO_SPACE"
    assert "MAV_MISSION_NO_SPACE" in str(err.value)


async def test_upload_cut_off_halfway_times_out_and_clears() -> None:
    with FakeAutopilot(PeerScript(cut_upload_after=5)) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            v.mission.item_timeout_s, v.mission.retries = 0.2, 2
            started = time.monotonic()
            with pytest.raises(MissionTimeoutError) as err:
                await v.mission.upload(survey_items(10))
            assert time.monotonic() - started < 3.0
    assert "item 5 of 14" in str(err.value)
    # ArduPilot keeps partial uploads: the link cleared the mission rather than leave a mix.
    assert "cleared" in str(err.value)
    assert any(m.get_type() == "MISSION_CLEAR_ALL" for m in peer.received)


async def test_out_of_sequence_request_cancels_upload() -> None:
    with FakeAutopilot(PeerScript(request_out_of_sequence=True)) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            with pytest.raises(MissionSequenceError) as err:
                await v.mission.upload(survey_items(4))
    assert err.value.result_name == "MAV_MISSION_INVALID_SEQUENCE"
    assert "requested item 2 while item 1" in str(err.value)
    acks = [m for m in peer.received if m.get_type() == "MISSION_ACK"]
    assert acks and acks[0].type == 13  # we told the vehicle the transfer is void


async def test_autopilot_that_never_answers() -> None:
    with FakeAutopilot(PeerScript(silent=True)) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            v.mission.item_timeout_s, v.mission.retries = 0.2, 1
            started = time.monotonic()
            with pytest.raises(MissionTimeoutError):
                await v.mission.upload(survey_items(2))
            with pytest.raises(MissionTimeoutError):
                await v.mission.download()
            with pytest.raises(CommandTimeoutError) as err:
                await v.command_long(400, (1,), timeout=0.2, retries=1)
            assert isinstance(err.value, TimeoutError)
            assert time.monotonic() - started < 4.0
    assert "MAV_CMD_COMPONENT_ARM_DISARM" in str(err.value)
    # Retries carry an increasing confirmation number, as the command protocol asks.
    confirmations = [
        m.confirmation
        for m in peer.received
        if m.get_type() == "COMMAND_LONG" and m.command == 400  # not the connect-time asks
    ]
    assert confirmations[:2] == [0, 1]


async def test_no_heartbeat_and_refused_port() -> None:
    with FakeAutopilot(PeerScript()) as peer:
        peer.paused.set()
        with pytest.raises(HeartbeatTimeoutError) as err:
            async with Vehicle.connect(peer.url, timeout=0.5):
                pass
        assert isinstance(err.value, LinkTimeoutError)
        port = peer.port
    with pytest.raises(ConnectionFailedError):
        async with Vehicle.connect(f"tcp:127.0.0.1:{port}", timeout=0.5):
            pass
    # A host that never answers (TEST-NET-1, RFC 5737): bounded by the timeout, not by TCP.
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError):
        async with Vehicle.connect("tcp:192.0.2.1:5760", timeout=0.5):
            pass
    assert time.monotonic() - started < 2.0


async def test_arm_denied_carries_prearm_reasons() -> None:
    reasons = ["PreArm: GPS: No 3D fix", "PreArm: EKF not healthy"]
    with FakeAutopilot(PeerScript(arm_denied_reasons=reasons)) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            with pytest.raises(CommandDeniedError) as err:
                await v.action.arm()
            assert not v.state.armed
    assert err.value.result_name == "MAV_RESULT_FAILED"
    assert err.value.command == "MAV_CMD_COMPONENT_ARM_DISARM"
    assert err.value.reasons == reasons


async def test_modes_arm_in_progress_and_fallbacks() -> None:
    script = PeerScript(
        in_progress_commands={400},
        unsupported_commands={MAV_CMD_NAV_RETURN_TO_LAUNCH},
    )
    with FakeAutopilot(script) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            await v.action.set_mode("guided")
            assert (v.state.mode, peer.custom_mode) == ("GUIDED", 4)
            with pytest.raises(ModeError) as err:
                await v.action.set_mode("HOVER")
            assert "LOITER" in str(err.value)
            await v.action.arm()  # answered IN_PROGRESS first, then ACCEPTED
            assert v.state.armed and peer.armed
            await v.action.return_to_launch()  # command unsupported → mode RTL
            assert v.state.mode == "RTL"
            events = v.event_log
            assert [e.kind for e in events][:2] == ["mode_changed", "armed_changed"]


async def test_link_drop_reconnects_and_records_gap() -> None:
    with FakeAutopilot(PeerScript()) as peer:
        async with Vehicle.connect(peer.url, timeout=5, link_timeout_s=0.5) as v:
            stream = v.events()
            peer.paused.set()
            peer.drop_client()
            lost = await asyncio.wait_for(_next_of(stream, LinkLost), 3)
            # While the link is down a request fails fast with the reason, not a bare timeout.
            with pytest.raises(LinkLostError, match="link to vehicle 1 is down"):
                await v.command_long(176, (1, 4), timeout=0.2, retries=0)
            await asyncio.sleep(0.3)
            peer.paused.clear()
            regained = await asyncio.wait_for(_next_of(stream, LinkRegained), 5)
            assert isinstance(lost, LinkLost)
            assert isinstance(regained, LinkRegained)
            assert regained.gap_s >= 0.9
            assert v.state.gaps[0].gap_s == regained.gap_s
            assert v.link.transport_drops >= 1
            # The link works again after the reconnect.
            await v.action.set_mode("LOITER")


async def test_several_vehicles_on_one_link_by_sysid() -> None:
    with FakeAutopilot(PeerScript(sysid=1, other_sysids=(2, 3))) as peer:
        async with Vehicle.connect(peer.url, timeout=5, sysid=2) as rover2:
            assert rover2.sysid == 2 and rover2.state.is_rover
            copter = await Vehicle.on_link(rover2.link, sysid=1)
            rover3 = await Vehicle.on_link(rover2.link, sysid=3)
            await rover2.action.set_mode("HOLD")
            await copter.action.set_mode("LOITER")
            await rover3.action.set_mode("AUTO")
            assert (copter.state.mode, rover2.state.mode, rover3.state.mode) == (
                "LOITER",
                "HOLD",
                "AUTO",
            )
            assert peer.other_modes == {2: 4, 3: 10} and peer.custom_mode == 5
            assert sorted(rover2.link.vehicles_seen) == [1, 2, 3]
            await copter.close()
            await rover3.close()


async def test_mission_end_seen_without_last_item_reached() -> None:
    """Autopilots that never report the final RTL as reached still end the mission: by
    ArduPilot's "Mission Complete" text, or by disarming in AUTO on the last item."""
    with FakeAutopilot(PeerScript()) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            await v.mission.upload(survey_items(2), verify=False)  # 7 items, last seq 6
            peer.say("statustext", 6, b"Mission Complete")
            await v.wait_mission_finished(2)
        async with Vehicle.connect(peer.url, timeout=5) as v:
            await v.mission.upload(survey_items(2), verify=False)
            peer.custom_mode, peer.armed = 3, True  # AUTO, flying
            await v.wait_for(lambda s: s.armed and s.mode == "AUTO", 2, "armed in AUTO")
            peer.say("mission_current", 5)
            await asyncio.sleep(0.2)
            assert not v.state.mission_finished  # flying item 5 of 6: not the end yet
            peer.say("mission_current", 6)
            await v.wait_for(lambda s: s.mission_current == 6, 2, "last item")
            peer.armed = False
            await v.wait_mission_finished(2)
            assert [e.kind for e in v.event_log if e.kind == "mission_finished"] == [
                "mission_finished"
            ]


async def _next_of(stream, kind):  # type: ignore[no-untyped-def]
    async for event in stream:
        if isinstance(event, kind):
            return event
    return None


def test_compare_items_tolerates_rounding_only() -> None:
    sent = survey_items(3)
    same = [
        MissionItem(**{**i.__dict__, "alt_m": i.alt_m + 0.004, "frame": 6})
        if i.frame == MAV_FRAME_GLOBAL_RELATIVE_ALT
        else i
        for i in sent
    ]
    assert compare_items(sent, same, 0) == []
    moved = list(sent)
    moved[4] = MissionItem(**{**sent[4].__dict__, "lat_deg": sent[4].lat_deg + 1e-5})
    problems = compare_items(sent, moved, 0)
    assert len(problems) == 1 and "item 4: lat_deg" in problems[0]
    assert compare_items(sent, sent[:-1], 0) == [f"count sent {len(sent)} != read back 6"]
    with pytest.raises(MissionVerifyError):
        raise MissionVerifyError("mission", problems)
