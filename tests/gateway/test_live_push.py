"""Live stream from the real broker to WebSocket clients (department-filtered), and signed
webhooks retried with back-off against a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from cases.db import make_engine, session_factory
from cases.models import SiteRecord
from gateway.app import create_app
from telemetry.contract import TelemetryMessage, topic_for
from tests.gateway.conftest import World, as_user, with_config


def _publish_until(stop: threading.Event, topic: str, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        while not stop.is_set():
            client.publish(topic, payload, qos=0)
            stop.wait(0.1)
    finally:
        client.disconnect()
        client.loop_stop()


def test_positions_reach_the_department_that_owns_the_site(world: World) -> None:
    config = with_config(world, mqtt_host="127.0.0.1", mqtt_port=1883)
    vehicle = f"uav-{uuid.uuid4().hex[:6]}"
    msg = TelemetryMessage(
        site_id=world.site_id,
        vehicle_id=vehicle,
        time=datetime.now(UTC),
        lat=41.7605,
        lon=123.407,
        alt_agl_m=50.0,
        alt_amsl_m=92.0,
        mode="AUTO",
        armed=True,
    )
    stop = threading.Event()
    engine = make_engine(world.url)
    with session_factory(engine)() as session:
        session.add(SiteRecord(id="zr-site", name="ZR", department_id="ZR", geojson={}))
        session.commit()
    engine.dispose()
    app = create_app(config)
    with TestClient(app) as client:
        cg = as_user(world, "insp")["Authorization"][7:]
        zr = as_user(world, "zr")["Authorization"][7:]
        with (
            client.websocket_connect(f"/api/live?token={cg}") as ws_cg,
            client.websocket_connect(f"/api/live?token={zr}") as ws_zr,
        ):
            assert ws_cg.receive_json()["kind"] == "hello"
            assert ws_zr.receive_json()["kind"] == "hello"
            publisher = threading.Thread(
                target=_publish_until,
                args=(
                    stop,
                    topic_for(world.site_id, vehicle, "telemetry"),
                    msg.model_dump_json().encode(),
                ),
            )
            publisher.start()
            try:
                while True:  # the broker is shared: skip other engineers' traffic
                    view = ws_cg.receive_json()
                    if view.get("vehicle_id") == vehicle:
                        break
            finally:
                stop.set()
                publisher.join(5)
            assert view["kind"] == "position" and view["lon"] == pytest.approx(123.407)
            vehicles = client.get("/api/vehicles", headers=as_user(world, "insp")).json()
            assert isinstance(vehicles["items"], list)
            # The other department's client got nothing about this vehicle.
            app.state.hub.publish({"kind": "status", "site_id": "zr-site", "vehicle_id": "marker"})
            ws_zr_views = []
            while True:
                v = ws_zr.receive_json()
                ws_zr_views.append(v)
                if v.get("vehicle_id") == "marker":
                    break
            assert not [v for v in ws_zr_views if v.get("vehicle_id") == vehicle]
        assert app.state.hub.subscribers == set()  # both clients cleaned up


def test_websocket_refuses_anonymous(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect("/api/live") as ws:
        ws.receive_json()
    assert exc.value.code == 4401


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []
    fail_first: ClassVar[int] = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append({"headers": dict(self.headers), "body": body})
        status = 500 if len(type(self).calls) <= type(self).fail_first else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_webhook_is_signed_and_retried(world: World) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    config = with_config(world, webhook_backoff_s=(0.3, 0.6))
    try:
        app = create_app(config)
        with TestClient(app) as client:
            admin = as_user(world, "admin")
            r = client.post(
                "/api/webhooks", headers=admin, json={"url": url, "events": ["evidence.new"]}
            )
            assert r.status_code == 201
            secret = r.json()["secret"]
            assert (
                client.post(
                    "/api/webhooks", headers=as_user(world, "insp"), json={"url": url}
                ).status_code
                == 403
            )
            app.state.hub.publish(
                {"kind": "evidence", "id": "ev-x", "site_id": world.site_id, "vehicle_id": "uav-1"}
            )
            deadline = time.monotonic() + 15
            while len(_Receiver.calls) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            deliveries = client.get("/api/webhooks/deliveries", headers=admin).json()["items"]
    finally:
        server.shutdown()
    assert len(_Receiver.calls) == 2, "one failure, then one retry"
    assert [d["outcome"] for d in deliveries] == ["retry", "ok"]
    call = _Receiver.calls[1]
    headers = {k.lower(): v for k, v in call["headers"].items()}
    stamp = headers["x-fieldpatrol-timestamp"]
    expected = hmac.new(
        secret.encode(), f"{stamp}.".encode() + call["body"], hashlib.sha256
    ).hexdigest()
    assert headers["x-fieldpatrol-signature"] == f"sha256={expected}"
    doc = json.loads(call["body"])
    assert doc["event"] == "evidence.new" and doc["department"] == "CG"
    assert headers["x-fieldpatrol-delivery"] == doc["id"]


def test_missed_deadline_is_published_once_on_mqtt(world: World) -> None:
    from datetime import date

    from cases.models import CaseDeadline

    engine = make_engine(world.url)
    with session_factory(engine)() as session:
        case = session.scalars(select_case(world.case_numbers[0])).one()
        session.add(
            CaseDeadline(
                case_id=case.id,
                kind="decision",
                basis="APL Art. 60",
                start_on=date(2026, 1, 5),
                due_on=date(2026, 4, 3),
                unit="calendar",
            )
        )
        session.commit()
    engine.dispose()
    got: list[dict[str, Any]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: got.append(json.loads(m.payload))
    sub.connect("127.0.0.1", 1883)
    sub.subscribe("fieldpatrol/v1/gateway/notifications/deadline.missed", qos=1)
    sub.loop_start()
    try:
        config = with_config(world, mqtt_host="127.0.0.1", mqtt_port=1883)
        app = create_app(config)
        with TestClient(app):
            notifier = app.state.notifier
            deadline = time.monotonic() + 15
            while not notifier._mqtt.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
            notifier.scan_deadlines(today=date(2026, 11, 27))
            assert notifier.scan_deadlines(today=date(2026, 11, 28)) == 0  # once only
            while time.monotonic() < deadline and not [
                g for g in got if g["data"]["case"] == world.case_numbers[0]
            ]:
                time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    mine = [g for g in got if g["data"]["case"] == world.case_numbers[0]]
    assert len(mine) == 1 and mine[0]["department"] == "CG"
    assert mine[0]["data"]["due_on"] == str(date(2026, 4, 3))


def select_case(number: str) -> Any:
    from sqlalchemy import select

    from cases.models import Case

    return select(Case).where(Case.number == number)
