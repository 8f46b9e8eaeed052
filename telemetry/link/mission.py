"""The MAVLink mission microservice for missions, fences and rally points.

Upload: MISSION_COUNT → (MISSION_REQUEST_INT | MISSION_REQUEST) → MISSION_ITEM_INT
(| MISSION_ITEM) … → MISSION_ACK; download: MISSION_REQUEST_LIST → MISSION_COUNT →
MISSION_REQUEST_INT / MISSION_ITEM_INT … → MISSION_ACK; clear: MISSION_CLEAR_ALL → MISSION_ACK.
Per-message timeouts with retries as the MAVLink mission protocol recommends; every NACK is
raised with its MAV_MISSION_RESULT name.

ArduPilot's quirks handled here:
- mission item 0 is the home position: it is uploaded but the autopilot keeps its own home,
  so read-back never compares item 0 of a mission;
- values come back rounded (lat/lon as int32 1e-7°, params as float32, some params not
  stored at all, ``*_INT`` frames reported as their float variant), so read-back compares
  within tolerances and skips what ArduPilot does not store;
- a failed upload leaves the items received so far mixed with the old mission, so after a
  failure we clear that mission type, and say so in the exception;
- an item that arrives out of sequence (e.g. our second answer to a re-sent request) is
  NACKed with MAV_MISSION_INVALID_SEQUENCE but does not end the transfer, so that NACK is
  not an upload failure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import (
    LinkConfigError,
    MissionDownloadError,
    MissionSequenceError,
    MissionTimeoutError,
    MissionUploadError,
    MissionVerifyError,
)
from .mav import enum_name, mavlink

if TYPE_CHECKING:
    from missions.items import MissionItem

    from .vehicle import Vehicle

TYPE_NAMES = {0: "mission", 1: "fence", 2: "rally"}

# Frames whose x/y are local metres (scaled 1e4 in MISSION_ITEM_INT), not degrees (1e7).
_LOCAL_FRAMES = frozenset({1, 4, 7, 8, 9, 12, 20, 21})
# ArduPilot reports the float variant of the *_INT global frames on download.
_FRAME_ALIAS = {5: 0, 6: 3, 11: 10}
# Fields ArduPilot does not store per command (they come back zero or changed).
_AP_NOT_STORED: dict[int, frozenset[str]] = {
    16: frozenset({"param2", "param3", "param4"}),  # NAV_WAYPOINT: radii packed, yaw not kept
    20: frozenset({"param1", "param2", "param3", "param4", "lat_deg", "lon_deg", "alt_m"}),
    21: frozenset({"param1", "param2", "param3", "param4"}),  # NAV_LAND
    22: frozenset({"param1", "param2", "param3", "param4", "lat_deg", "lon_deg"}),  # TAKEOFF
    206: frozenset({"param4", "lat_deg", "lon_deg", "alt_m"}),  # DO_SET_CAM_TRIGG_DIST
    178: frozenset({"param4", "lat_deg", "lon_deg", "alt_m"}),  # DO_CHANGE_SPEED
}
_PARAMS = ("param1", "param2", "param3", "param4")


def _scale(frame: int) -> float:
    return 1e4 if frame in _LOCAL_FRAMES else 1e7


def _make_item(**fields: Any) -> MissionItem:
    from missions.items import MissionItem  # runtime import: telemetry → missions

    return MissionItem(**fields)


def item_from_message(msg: Any, mission_type: int) -> MissionItem:
    """A ``MissionItem`` from a received MISSION_ITEM_INT or (legacy) MISSION_ITEM."""
    if msg.get_type() == "MISSION_ITEM_INT":
        scale = _scale(msg.frame)
        lat, lon = msg.x / scale, msg.y / scale
    else:
        lat, lon = float(msg.x), float(msg.y)
    return _make_item(
        seq=int(msg.seq),
        frame=int(msg.frame),
        command=int(msg.command),
        current=int(msg.current),
        autocontinue=int(msg.autocontinue),
        param1=float(msg.param1),
        param2=float(msg.param2),
        param3=float(msg.param3),
        param4=float(msg.param4),
        lat_deg=lat,
        lon_deg=lon,
        alt_m=float(msg.z),
        mission_type=mission_type,
    )


def item_wire_fields(
    item: MissionItem, seq: int, mission_type: int, use_int: bool = True
) -> tuple[Any, ...]:
    """The fields of MISSION_ITEM_INT (or legacy float MISSION_ITEM) after the target ids."""
    common = (item.frame, item.command, 0 if seq else item.current, item.autocontinue)
    params = (item.param1, item.param2, item.param3, item.param4)
    if use_int:
        scale = _scale(item.frame)
        x, y = round(item.lat_deg * scale), round(item.lon_deg * scale)
        return (seq, *common, *params, x, y, float(item.alt_m), mission_type)
    xf, yf = float(item.lat_deg), float(item.lon_deg)
    return (seq, *common, *params, xf, yf, float(item.alt_m), mission_type)


def compare_items(
    sent: Sequence[MissionItem],
    got: Sequence[MissionItem],
    mission_type: int,
    ardupilot: bool = True,
    position_tol_deg: float = 2.5e-7,
) -> list[str]:
    """Differences between an upload and its read-back, beyond rounding; [] when equal.

    ``position_tol_deg`` is the wire's resolution: 1e-7° for MISSION_ITEM_INT; a float32
    MISSION_ITEM (legacy autopilots) only keeps about 1e-5° (~1 m).
    """
    problems: list[str] = []
    if len(sent) != len(got):
        problems.append(f"count sent {len(sent)} != read back {len(got)}")
        return problems
    for i, (a, b) in enumerate(zip(sent, got, strict=True)):
        if mission_type == 0 and i == 0 and ardupilot:
            continue  # home: the autopilot keeps its own
        if a.command != b.command:
            problems.append(f"item {i}: command {a.command} read back as {b.command}")
            continue
        skip = _AP_NOT_STORED.get(a.command, frozenset()) if ardupilot else frozenset()
        if _FRAME_ALIAS.get(a.frame, a.frame) != _FRAME_ALIAS.get(b.frame, b.frame) and not (
            {"lat_deg", "lon_deg", "alt_m"} <= skip
        ):
            problems.append(f"item {i}: frame {a.frame} read back as {b.frame}")
        for name in ("lat_deg", "lon_deg"):
            if name in skip:
                continue
            va, vb = getattr(a, name), getattr(b, name)
            if not math.isclose(va, vb, abs_tol=position_tol_deg):
                problems.append(f"item {i}: {name} {va:.7f} read back as {vb:.7f}")
        if "alt_m" not in skip and not math.isclose(a.alt_m, b.alt_m, abs_tol=0.02):
            problems.append(f"item {i}: alt_m {a.alt_m:g} read back as {b.alt_m:g}")
        for name in _PARAMS:
            if name in skip:
                continue
            va, vb = getattr(a, name), getattr(b, name)
            if math.isnan(va):
                continue  # "unset" on the wire; autopilots return their default
            tol = 0.5 if (ardupilot and a.command == 16 and name == "param1") else 1e-3
            if math.isnan(vb) or not math.isclose(va, vb, rel_tol=1e-5, abs_tol=tol):
                problems.append(f"item {i}: {name} {va:g} read back as {vb:g}")
    return problems


class MissionPlugin:
    """Upload, download and clear one mission type (mission, fence or rally)."""

    def __init__(self, vehicle: Vehicle, mission_type: int) -> None:
        self._v = vehicle
        self.mission_type = mission_type
        self.type_name = TYPE_NAMES.get(mission_type, f"type {mission_type}")
        self.item_timeout_s = 1.5
        self.retries = 4
        # ArduPilot re-sends a MISSION_REQUEST after 1 s of its own time, which SITL at
        # speedup 60 makes ~17 ms: a re-request this soon after our answer has crossed it.
        # Short enough to re-send well inside ArduPilot's 8 s (133 ms at 60x) upload timeout.
        self.resend_guard_s = 0.05
        self.items_uploaded = 0
        self.used_legacy_items = False

    # -- upload ----------------------------------------------------------------------------

    def _send_item(self, item: MissionItem, seq: int, use_int: bool) -> None:
        v = self._v
        name = "mission_item_int" if use_int else "mission_item"
        v.link.send(
            name, v.sysid, v.compid, *item_wire_fields(item, seq, self.mission_type, use_int)
        )

    def _check_items(self, items: Sequence[MissionItem]) -> None:
        for i, item in enumerate(items):
            if int(item.mission_type) != self.mission_type:
                raise LinkConfigError(
                    f"items[{i}].mission_type: {item.mission_type} does not belong in a "
                    f"{self.type_name} upload (expected {self.mission_type}); upload it with "
                    f"the {TYPE_NAMES.get(int(item.mission_type), '?')} plugin"
                )
        if len(items) > 65535:
            raise LinkConfigError(f"items: {len(items)} items; MAVLink allows at most 65535")

    async def upload(
        self, items: Sequence[MissionItem], *, verify: bool = True
    ) -> list[MissionItem]:
        """Upload ``items`` (renumbered 0..n-1) and, with ``verify``, read them back.

        Returns the read-back items (or ``items`` when not verifying). Raises
        ``MissionUploadError`` (NACK, with its MAV_MISSION_RESULT name),
        ``MissionSequenceError``, ``MissionTimeoutError`` or ``MissionVerifyError``.
        """
        items = list(items)
        self._check_items(items)
        if not items:
            await self.clear()
            return []
        try:
            await self._upload(items)
        except (MissionUploadError, MissionTimeoutError) as exc:
            if exc.items_sent:
                await self._clear_after_failure(exc)
            raise
        self.items_uploaded += len(items)
        if self.mission_type == mavlink.MAV_MISSION_TYPE_MISSION:
            self._v.mission_started(len(items))
        if not verify:
            return items
        got = await self.download()
        ardupilot = self._v.state.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
        tol = 1.5e-5 if self.used_legacy_items else 2.5e-7
        problems = compare_items(
            items, got, self.mission_type, ardupilot=ardupilot, position_tol_deg=tol
        )
        if problems:
            raise MissionVerifyError(self.type_name, problems)
        return got

    async def _clear_after_failure(self, exc: Exception) -> None:
        # ArduPilot keeps the items it received: never leave a half-old, half-new mission.
        try:
            await self.clear(timeout=1.0, retries=1)
            exc.args = (f"{exc.args[0]}; the vehicle's {self.type_name} was cleared",)
        except Exception:
            exc.args = (
                f"{exc.args[0]}; the vehicle's {self.type_name} may be a mix of old and new "
                "items: clear or re-upload it before flying",
            )

    async def _upload(self, items: list[MissionItem]) -> bool:
        v = self._v
        n = len(items)
        timeout, retries = self.item_timeout_s, self.retries
        kinds = ["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"]
        with v.link.subscribe(kinds, v.sysid) as sub:

            def send_count() -> None:
                v.link.send("mission_count", v.sysid, v.compid, n, self.mission_type)

            send_count()
            self.used_legacy_items = False
            highest = -1
            sent_at = 0.0
            last_use_int = True
            tries_left = retries
            while True:
                try:
                    msg = await sub.get(timeout)
                except TimeoutError:
                    if tries_left == 0:
                        v.raise_if_lost(f"{self.type_name} upload")
                        err = MissionTimeoutError(
                            "upload",
                            self.type_name,
                            f"no request for item {highest + 1} of {n} after "
                            f"{retries + 1} tries of {timeout:g} s (the vehicle stopped "
                            "answering)",
                        )
                        err.items_sent = highest + 1
                        raise err from None
                    tries_left -= 1
                    if highest < 0:
                        send_count()
                    else:
                        self._send_item(items[highest], highest, last_use_int)
                    continue
                if getattr(msg, "mission_type", 0) != self.mission_type:
                    continue
                if msg.target_system not in (0, v.link.source_system):
                    continue
                if msg.get_type() == "MISSION_ACK":
                    if msg.type == mavlink.MAV_MISSION_INVALID_SEQUENCE:
                        # ArduPilot re-requests an item after 1 s of *its* time (1/60 s real
                        # at speedup 60), so we may answer a request twice; it NACKs the late
                        # duplicate with INVALID_SEQUENCE and carries on with the transfer.
                        # A real stall still ends in the per-item timeout below.
                        continue
                    if msg.type != mavlink.MAV_MISSION_ACCEPTED:
                        nack = MissionUploadError(
                            enum_name("MAV_MISSION_RESULT", msg.type),
                            f"{self.type_name} upload refused at item {highest + 1} of {n}",
                            self.type_name,
                        )
                        nack.items_sent = highest + 1
                        raise nack
                    if highest < n - 1:
                        early = MissionSequenceError(
                            "INCOMPLETE_TRANSFER",
                            f"{self.type_name} upload acknowledged after only {highest + 1} of "
                            f"{n} items",
                            self.type_name,
                        )
                        early.items_sent = highest + 1
                        raise early
                    return True
                seq = int(msg.seq)
                if seq < 0 or seq >= n or seq > highest + 1:
                    # Re-requests of earlier items are retries and fine; skipping ahead or
                    # asking beyond the count is a broken transfer: cancel it.
                    v.link.send(
                        "mission_ack",
                        v.sysid,
                        v.compid,
                        mavlink.MAV_MISSION_INVALID_SEQUENCE,
                        self.mission_type,
                    )
                    bad = MissionSequenceError(
                        "MAV_MISSION_INVALID_SEQUENCE",
                        f"{self.type_name} upload: vehicle requested item {seq} while item "
                        f"{highest + 1} of {n} was next",
                        self.type_name,
                    )
                    bad.items_sent = highest + 1
                    raise bad
                now = time.monotonic()
                if seq == highest and now - sent_at < self.resend_guard_s:
                    # The re-request crossed our answer in flight (see resend_guard_s): a
                    # second copy would only be NACKed, or after the last item refused
                    # with MAV_MISSION_ERROR in the middle of the next transfer.
                    continue
                last_use_int = msg.get_type() == "MISSION_REQUEST_INT"
                self.used_legacy_items |= not last_use_int
                self._send_item(items[seq], seq, last_use_int)
                sent_at = now
                if seq > highest:
                    highest = seq
                    tries_left = retries

    # -- download --------------------------------------------------------------------------

    async def download(self) -> list[MissionItem]:
        """Read the vehicle's items of this type (MISSION_REQUEST_INT, legacy answers ok)."""
        v = self._v
        timeout, retries = self.item_timeout_s, self.retries
        kinds = ["MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK"]
        with v.link.subscribe(kinds, v.sysid) as sub:

            async def exchange(send: Any, want: str, seq: int | None, what: str) -> Any:
                for _ in range(retries + 1):
                    send()
                    deadline = time.monotonic() + timeout
                    while True:
                        try:
                            msg = await sub.get(max(deadline - time.monotonic(), 0.0))
                        except TimeoutError:
                            break
                        if getattr(msg, "mission_type", 0) != self.mission_type:
                            continue
                        mtype = msg.get_type()
                        if mtype == "MISSION_ACK" and msg.type != mavlink.MAV_MISSION_ACCEPTED:
                            raise MissionDownloadError(
                                enum_name("MAV_MISSION_RESULT", msg.type),
                                f"{self.type_name} download refused while waiting for {what}",
                            )
                        if want == "MISSION_COUNT" and mtype == want:
                            return msg
                        if (
                            want == "ITEM"
                            and mtype in ("MISSION_ITEM_INT", "MISSION_ITEM")
                            and msg.seq == seq
                        ):
                            return msg
                v.raise_if_lost(f"{self.type_name} download")
                raise MissionTimeoutError(
                    "download",
                    self.type_name,
                    f"no {what} after {retries + 1} tries of {timeout:g} s",
                )

            count_msg = await exchange(
                lambda: v.link.send("mission_request_list", v.sysid, v.compid, self.mission_type),
                "MISSION_COUNT",
                None,
                "MISSION_COUNT",
            )
            items: list[MissionItem] = []
            for seq in range(int(count_msg.count)):
                msg = await exchange(
                    lambda s=seq: v.link.send(
                        "mission_request_int", v.sysid, v.compid, s, self.mission_type
                    ),
                    "ITEM",
                    seq,
                    f"item {seq} of {count_msg.count}",
                )
                items.append(item_from_message(msg, self.mission_type))
            v.link.send(
                "mission_ack",
                v.sysid,
                v.compid,
                mavlink.MAV_MISSION_ACCEPTED,
                self.mission_type,
            )
        return items

    # -- clear -----------------------------------------------------------------------------

    async def clear(self, timeout: float | None = None, retries: int | None = None) -> None:
        """Remove all items of this type from the vehicle (MISSION_CLEAR_ALL)."""
        v = self._v
        timeout = self.item_timeout_s if timeout is None else timeout
        retries = self.retries if retries is None else retries
        with v.link.subscribe(["MISSION_ACK"], v.sysid) as sub:
            for _ in range(retries + 1):
                v.link.send("mission_clear_all", v.sysid, v.compid, self.mission_type)
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        msg = await sub.get(max(deadline - time.monotonic(), 0.0))
                    except TimeoutError:
                        break
                    if getattr(msg, "mission_type", 0) != self.mission_type:
                        continue
                    if msg.type != mavlink.MAV_MISSION_ACCEPTED:
                        raise MissionUploadError(
                            enum_name("MAV_MISSION_RESULT", msg.type),
                            f"{self.type_name} clear refused",
                            self.type_name,
                        )
                    if self.mission_type == mavlink.MAV_MISSION_TYPE_MISSION:
                        v.mission_started(0)
                    return
        raise MissionTimeoutError(
            "clear", self.type_name, f"no MISSION_ACK after {retries + 1} tries of {timeout:g} s"
        )
