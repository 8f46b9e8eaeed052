"""The live stream: vehicle positions, mission progress, fence events, vehicle status and new
evidence, fanned out from the broker (`fieldpatrol/v1/+/+/telemetry|event|status|evidence`) to
WebSocket clients at `/api/live`.

Each broker message is parsed with the wire contract, reduced to what a map needs, serialised
once and queued to every client allowed to see its site; a slow client loses its oldest
messages rather than holding the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from sqlalchemy import select

from cases.models import SiteRecord, User
from gateway.api.deps import ADMIN, SESSION_COOKIE
from gateway.auth import tokens
from gateway.errors import AuthError
from telemetry.contract import EventMessage, StatusMessage, TelemetryMessage, parse_evidence
from telemetry.contract.errors import ContractError
from telemetry.contract.topics import parse_topic, subscription_for

log = logging.getLogger(__name__)

KINDS = ("telemetry", "event", "status", "evidence")
CLIENT_QUEUE = 256


def reduce_message(kind: str, payload: bytes) -> dict[str, Any] | None:
    """The live view of one broker message (None when it does not parse)."""
    try:
        if kind == "telemetry":
            t = TelemetryMessage.model_validate_json(payload)
            return {
                "kind": "position",
                "site_id": t.site_id,
                "vehicle_id": t.vehicle_id,
                "sortie_id": t.sortie_id,
                "time": t.time.isoformat(),
                "lon": t.lon,
                "lat": t.lat,
                "alt_agl_m": t.alt_agl_m,
                "heading_deg": t.heading_deg,
                "speed_m_s": t.ground_speed_m_s,
                "mode": t.mode,
                "armed": t.armed,
                "battery_pct": t.battery_pct,
            }
        if kind == "event":
            e = EventMessage.model_validate_json(payload)
            fence = "fence" in e.kind
            return {
                "kind": "fence" if fence else "progress",
                "event": e.kind,
                "site_id": e.site_id,
                "vehicle_id": e.vehicle_id,
                "sortie_id": e.sortie_id,
                "time": e.time.isoformat(),
                "detail": e.detail,
            }
        if kind == "status":
            s = StatusMessage.model_validate_json(payload)
            return {
                "kind": "status",
                "site_id": s.site_id,
                "vehicle_id": s.vehicle_id,
                "time": s.time.isoformat(),
                "online": s.online,
                "backlog": s.backlog,
            }
        if kind == "evidence":
            m = parse_evidence(payload)
            return {
                "kind": "evidence",
                "id": m.id,
                "site_id": m.site_id,
                "vehicle_id": m.vehicle_id,
                "sortie_id": m.sortie_id,
                "time": m.time.isoformat(),
                "lon": m.lon,
                "lat": m.lat,
                "class_name": m.detection.class_name,
                "confidence": m.detection.confidence,
            }
    except (ValidationError, ContractError, ValueError):
        return None
    return None


@dataclass(eq=False)
class Subscriber:
    """One WebSocket client: its queue and the sites it may see (None: all)."""

    sites: frozenset[str] | None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: int = 0

    def offer(self, site_id: str | None, text: str) -> None:
        if self.sites is not None and site_id not in self.sites:
            return
        if self.queue.full():
            # Keep the newest positions: drop the oldest message of a lagging client.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(text)


class LiveHub:
    """Subscribes to the broker in paho's thread and fans messages out on the event loop."""

    def __init__(self, host: str | None, port: int = 1883, metrics: Any | None = None) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.subscribers: set[Subscriber] = set()
        #: Last position and status per vehicle (for the vehicle list).
        self.last: dict[str, dict[str, Any]] = {}
        #: Called with every view on the event loop (the push notifier listens for evidence).
        self.listeners: list[Any] = []
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None

    async def start(self) -> None:
        """Connect to the broker (when one is configured); retried by paho in the background."""
        self._loop = asyncio.get_running_loop()
        if not self.host:
            return
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"fieldpatrol-live-{uuid.uuid4().hex[:8]}"
        )
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(1, 30)
        try:
            client.connect_async(self.host, self.port, keepalive=30)
        except OSError as exc:
            log.warning("live stream: broker %s:%s unreachable (%s)", self.host, self.port, exc)
        client.loop_start()
        self._client = client

    async def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            return
        self.connected = True
        client.subscribe([(subscription_for(kind), 0) for kind in KINDS])

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(msg.topic)
        except ValueError:
            return
        view = reduce_message(topic.kind, bytes(msg.payload))
        if view is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, view)

    def publish(self, view: dict[str, Any]) -> None:
        """Fan one view out to every allowed client (call on the event loop)."""
        text = json.dumps(view, ensure_ascii=False, separators=(",", ":"), default=str)
        site = view.get("site_id")
        vehicle = view.get("vehicle_id")
        if vehicle and view.get("kind") in ("position", "status"):
            last = self.last.setdefault(str(vehicle), {})
            last["site_id"] = site
            last[str(view["kind"])] = view
        for listener in self.listeners:
            try:
                listener(view)
            except Exception as exc:  # a listener must not stop the stream
                log.warning("live listener failed: %s", exc)
        for sub in list(self.subscribers):
            sub.offer(site, text)
        if self.metrics is not None:
            self.metrics.live_messages.labels(str(view.get("kind"))).inc()

    def publish_threadsafe(self, view: dict[str, Any]) -> None:
        """Publish from another thread (the webhook notifier, a launcher)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, view)


router = APIRouter(tags=["live"])


def _websocket_user(websocket: WebSocket) -> User | None:
    app = websocket.app
    secret = app.state.config.secret_key
    token = websocket.query_params.get("token")
    try:
        if token:
            claims = tokens.verify(secret, token, "access")
        elif SESSION_COOKIE in websocket.cookies:
            claims = tokens.verify(secret, websocket.cookies[SESSION_COOKIE], "session")
        else:
            return None
    except AuthError:
        return None
    with app.state.sessions() as session:
        user = session.get(User, claims.user_id)
        if user is None or not user.active:
            return None
        session.expunge(user)
        return user


def _visible_sites(websocket: WebSocket, user: User) -> frozenset[str] | None:
    if user.role == ADMIN:
        return None
    with websocket.app.state.sessions() as session:
        ids = session.scalars(
            select(SiteRecord.id).where(SiteRecord.department_id == user.department_id)
        )
        return frozenset(ids)


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Live stream as JSON text frames: position, progress, fence, status, evidence, sortie."""
    user = _websocket_user(websocket)
    if user is None:
        await websocket.close(code=4401, reason="not authenticated")
        return
    # The cookie is SameSite=Strict, yet a WebSocket is not covered by CORS: check the origin.
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    allowed = set(websocket.app.state.config.cors_origins)
    if origin and host and origin.split("://", 1)[-1] != host and origin not in allowed:
        await websocket.close(code=4403, reason="cross-origin")
        return
    await websocket.accept()
    hub: LiveHub = websocket.app.state.hub
    sub = Subscriber(_visible_sites(websocket, user))
    hub.subscribers.add(sub)
    metrics = websocket.app.state.metrics
    metrics.live_clients.inc()

    async def drain_incoming() -> None:
        # The client sends nothing we need; reading notices the disconnect.
        while True:
            await websocket.receive_text()

    reader = asyncio.create_task(drain_incoming())
    try:
        await websocket.send_text(
            json.dumps({"kind": "hello", "user": user.username, "broker": hub.connected})
        )
        while not reader.done():
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await websocket.send_text(getter.result())
            else:
                getter.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        hub.subscribers.discard(sub)
        metrics.live_clients.dec()
