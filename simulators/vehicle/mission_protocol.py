"""The MAVLink mission microservice of the simulator, for mission, fence and rally lists.

Upload (MISSION_COUNT → MISSION_REQUEST_INT… → MISSION_ACK), download (MISSION_REQUEST_LIST →
MISSION_COUNT, MISSION_REQUEST_INT or legacy MISSION_REQUEST → MISSION_ITEM_INT / MISSION_ITEM),
MISSION_CLEAR_ALL and MISSION_SET_CURRENT, with ArduPilot's conventions: item 0 of the mission is
home (what is uploaded there is replaced by home on download), out-of-order items are answered
with MAV_MISSION_INVALID_SEQUENCE and asked for again, an over-long list with MAV_MISSION_NO_SPACE,
a bad item with the MAV_MISSION_RESULT naming the bad field. Retries run on wall-clock time
(a link does not get faster with the simulation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.items import (
    ALL,
    CAPACITY,
    FENCE,
    MISSION,
    RALLY,
    StoredItem,
    validate_fence,
    validate_item,
)
from simulators.vehicle.model import Vehicle

M = mavlink2
RETRY_S = 1.0
MAX_RETRIES = 5


@dataclass
class _Upload:
    count: int
    peer: tuple[int, int]
    items: list[StoredItem] = field(default_factory=list)
    last_activity: float = 0.0
    retries: int = 0


class MissionProtocol:
    """Serves one vehicle's three lists to any number of ground stations."""

    def __init__(self, vehicle: Vehicle, send: Callable[[Any], None]) -> None:
        self.vehicle = vehicle
        self.send = send
        self._uploads: dict[int, _Upload] = {}

    def _ack(self, peer: tuple[int, int], result: int, mission_type: int) -> None:
        self.send(M.MAVLink_mission_ack_message(peer[0], peer[1], result, mission_type))

    def _request(self, up: _Upload, mission_type: int, now: float) -> None:
        up.last_activity = now
        seq = len(up.items)
        self.send(M.MAVLink_mission_request_int_message(up.peer[0], up.peer[1], seq, mission_type))

    def handle(self, msg: Any, now: float) -> bool:
        """Handle a mission-protocol message; False if `msg` is not one."""
        mtype = msg.get_type()
        peer = (msg.get_srcSystem(), msg.get_srcComponent())
        mission_type = int(getattr(msg, "mission_type", MISSION))
        if mtype == "MISSION_COUNT":
            self._on_count(msg, peer, mission_type, now)
        elif mtype in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            self._on_item(msg, peer, mission_type, now)
        elif mtype == "MISSION_REQUEST_LIST":
            if mission_type not in CAPACITY:
                self._ack(peer, M.MAV_MISSION_UNSUPPORTED, mission_type)
                return True
            items = self.vehicle.get_list(mission_type)
            self.send(M.MAVLink_mission_count_message(peer[0], peer[1], len(items), mission_type))
        elif mtype in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            if mission_type not in CAPACITY:
                self._ack(peer, M.MAV_MISSION_UNSUPPORTED, mission_type)
                return True
            items = self.vehicle.get_list(mission_type)
            seq = int(msg.seq)
            if not 0 <= seq < len(items):
                self._ack(peer, M.MAV_MISSION_INVALID_SEQUENCE, mission_type)
                return True
            item = items[seq].with_seq(seq)
            if mtype == "MISSION_REQUEST_INT":
                self.send(item.to_int_message(peer[0], peer[1]))
            else:
                self.send(item.to_float_message(peer[0], peer[1]))
        elif mtype == "MISSION_CLEAR_ALL":
            types = (MISSION, FENCE, RALLY) if mission_type == ALL else (mission_type,)
            if any(t not in CAPACITY for t in types):
                self._ack(peer, M.MAV_MISSION_UNSUPPORTED, mission_type)
                return True
            for t in types:
                self._uploads.pop(t, None)
                self.vehicle.set_list(t, [])
            self._ack(peer, M.MAV_MISSION_ACCEPTED, mission_type)
        elif mtype == "MISSION_SET_CURRENT":
            if not self.vehicle.set_current(int(msg.seq)):
                self.vehicle.text("warning", f"Mission: invalid item {int(msg.seq)}")
        elif mtype == "MISSION_ACK":
            pass  # the end of a download; nothing to do
        else:
            return False
        return True

    def _on_count(self, msg: Any, peer: tuple[int, int], mission_type: int, now: float) -> None:
        if mission_type not in CAPACITY:
            self._ack(peer, M.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        count = int(msg.count)
        busy = self._uploads.get(mission_type)
        if busy is not None and busy.peer != peer:
            self._ack(peer, M.MAV_MISSION_DENIED, mission_type)
            return
        if count > CAPACITY[mission_type]:
            self._uploads.pop(mission_type, None)
            self._ack(peer, M.MAV_MISSION_NO_SPACE, mission_type)
            return
        if count == 0:
            self._uploads.pop(mission_type, None)
            self.vehicle.set_list(mission_type, [])
            self._ack(peer, M.MAV_MISSION_ACCEPTED, mission_type)
            return
        up = _Upload(count=count, peer=peer)
        self._uploads[mission_type] = up
        self._request(up, mission_type, now)

    def _on_item(self, msg: Any, peer: tuple[int, int], mission_type: int, now: float) -> None:
        up = self._uploads.get(mission_type)
        if up is None or up.peer != peer:
            # ArduPilot ignores items nobody asked for (e.g. a late retry of the last item).
            return
        seq = int(msg.seq)
        expected = len(up.items)
        if seq != expected:
            self._ack(peer, M.MAV_MISSION_INVALID_SEQUENCE, mission_type)
            return
        item = StoredItem.from_message(msg)
        if item.mission_type != mission_type:
            item = StoredItem(**{**item.__dict__, "mission_type": mission_type})
        result = validate_item(item) if not (mission_type == MISSION and seq == 0) else 0
        if result != M.MAV_MISSION_ACCEPTED:
            del self._uploads[mission_type]
            self._ack(peer, result, mission_type)
            return
        up.items.append(item)
        up.retries = 0
        if len(up.items) < up.count:
            self._request(up, mission_type, now)
            return
        del self._uploads[mission_type]
        if mission_type == FENCE:
            result = validate_fence(up.items)
            if result != M.MAV_MISSION_ACCEPTED:
                self._ack(peer, result, mission_type)
                return
        self.vehicle.set_list(mission_type, up.items)
        self._ack(peer, M.MAV_MISSION_ACCEPTED, mission_type)

    def tick(self, now: float) -> None:
        """Ask again for an item that did not come; give up after a few tries."""
        for mission_type, up in list(self._uploads.items()):
            if now - up.last_activity < RETRY_S:
                continue
            if up.retries >= MAX_RETRIES:
                del self._uploads[mission_type]
                self.vehicle.text("warning", "Mission upload timeout")
                self._ack(up.peer, M.MAV_MISSION_OPERATION_CANCELLED, mission_type)
                continue
            up.retries += 1
            self._request(up, mission_type, now)
