"""`patrol broker config` output run by a real Mosquitto: auth, per-device ACL, TLS."""

import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.ingest.broker import BrokerConfig, MosquittoProcess, free_port, write_production_config


class Client:
    """A small synchronous MQTT 5 client over TLS for the checks."""

    def __init__(self, cfg: BrokerConfig, user: str | None, password: str | None = None,
                 ca: Path | None = None, tls: bool = True) -> None:  # fmt: skip
        self.connected = threading.Event()
        self.done = threading.Event()
        self.reason: ReasonCode | None = None
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, int] = {}
        self.acked = threading.Condition()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user is not None:
            c.username_pw_set(user, password)
        if tls:
            c.tls_set(ca_certs=str(ca or cfg.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        c.on_publish = self._on_publish
        c.on_subscribe = lambda *_a: self.subscribed.set()
        self.subscribed = threading.Event()
        self.c = c
        self.error: Exception | None = None
        try:
            c.connect("127.0.0.1", cfg.port, keepalive=10)
        except (OSError, ssl.SSLError) as exc:
            self.error = exc
            return
        c.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.reason = rc
        self.connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self.acked:
            self.acks[mid] = int(rc.value)
            self.acked.notify_all()

    def ok(self, timeout: float = 5.0) -> bool:
        if self.error is not None:
            return False
        self.connected.wait(timeout)
        return self.reason is not None and not self.reason.is_failure

    def publish(self, topic: str, payload: bytes) -> int:
        info = self.c.publish(topic, payload, qos=1)
        with self.acked:
            self.acked.wait_for(lambda: info.mid in self.acks, timeout=5)
        return self.acks.get(info.mid, -1)

    def close(self) -> None:
        if self.error is None:
            self.c.disconnect()
            self.c.loop_stop()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[BrokerConfig, MosquittoProcess]]:
    cfg = write_production_config(
        tmp_path / "broker", ["uav-1", "uav-2"], port=free_port(), bind="127.0.0.1"
    )
    proc = MosquittoProcess(cfg.config, cfg.port)
    proc.start()
    yield cfg, proc
    proc.stop()


def test_vehicle_cannot_publish_as_another_and_gateway_reads_all(
    secured: tuple[BrokerConfig, MosquittoProcess],
) -> None:
    cfg, _ = secured
    gw = Client(cfg, "gateway", cfg.passwords["gateway"])
    uav1 = Client(cfg, "uav-1", cfg.passwords["uav-1"])
    try:
        assert gw.ok() and uav1.ok()
        gw.c.subscribe("$share/ingest/fieldpatrol/v1/+/+/evidence", qos=1)
        gw.c.subscribe("fieldpatrol/v1/+/+/status", qos=1)
        assert gw.subscribed.wait(5)
        own = uav1.publish("fieldpatrol/v1/site-1/uav-1/evidence", b"mine")
        other = uav1.publish("fieldpatrol/v1/site-1/uav-2/evidence", b"forged")
        status = uav1.publish("fieldpatrol/v1/site-1/uav-1/status", b"up")
        assert own < 0x80 and status < 0x80
        assert other == 0x87  # MQTT 5 "not authorized"
        deadline = threading.Event()
        deadline.wait(1.0)
        topics = [t for t, _ in gw.messages]
        assert "fieldpatrol/v1/site-1/uav-1/evidence" in topics
        assert "fieldpatrol/v1/site-1/uav-2/evidence" not in topics
        # a vehicle reads nothing (not even its own topics)
        uav1.c.subscribe("fieldpatrol/v1/#", qos=1)
        uav1.subscribed.wait(5)
        gw_pub = Client(cfg, "gateway", cfg.passwords["gateway"])
        assert gw_pub.ok()
        assert gw_pub.publish("fieldpatrol/v1/site-1/uav-1/evidence", b"x") == 0x87
        gw_pub.close()
        assert not any(p == b"x" for _, p in uav1.messages)
    finally:
        gw.close()
        uav1.close()


def test_anonymous_and_wrong_password_refused(
    secured: tuple[BrokerConfig, MosquittoProcess],
) -> None:
    cfg, _ = secured
    anon = Client(cfg, None)
    wrong = Client(cfg, "uav-1", "not-the-password")
    swapped = Client(cfg, "uav-1", cfg.passwords["uav-2"])
    try:
        for c in (anon, wrong, swapped):
            assert not c.ok()
            assert c.reason is not None and c.reason.is_failure
    finally:
        for c in (anon, wrong, swapped):
            c.close()


def test_tls_is_required_and_verified(
    secured: tuple[BrokerConfig, MosquittoProcess], tmp_path: Path
) -> None:
    cfg, _ = secured
    plain = Client(cfg, "uav-1", cfg.passwords["uav-1"], tls=False)
    assert not plain.ok(timeout=3)  # no plain-TCP listener
    plain.close()
    other = write_production_config(tmp_path / "other", ["uav-1"], port=free_port())
    stranger_ca = Client(cfg, "uav-1", cfg.passwords["uav-1"], ca=other.ca_cert)
    assert not stranger_ca.ok(timeout=3)  # server certificate not from the trusted CA
    assert isinstance(stranger_ca.error, ssl.SSLError)
    stranger_ca.close()
    good = Client(cfg, "uav-1", cfg.passwords["uav-1"])
    assert good.ok()
    assert good.c.socket() is not None and isinstance(good.c.socket(), ssl.SSLSocket)
    good.close()


def test_cli_enroll_and_broker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from patrol.commands import broker, device

    monkeypatch.setenv("FIELDPATROL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FIELDPATROL_DATABASE_URL", raising=False)
    runner = CliRunner()

    first = runner.invoke(device.app, ["enroll", "uav-7", "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["created"] and Path(doc["private_key_path"]).is_file()
    again = json.loads(runner.invoke(device.app, ["enroll", "uav-7", "--json"]).stdout)
    assert again["key_id"] == doc["key_id"] and not again["created"]
    bad = runner.invoke(device.app, ["enroll", "uav/#"])
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "vehicle_id" in bad.stderr
    listed = json.loads(runner.invoke(device.app, ["list", "--json"]).stdout)
    assert [d["vehicle_id"] for d in listed["devices"]] == ["uav-7"]
    out = runner.invoke(broker.app, ["config", "--json", "--out", str(tmp_path / "b")])
    assert out.exit_code == 0, out.output
    cfg = json.loads(out.stdout)
    assert cfg["users"] == ["gateway", "uav-7"]
    acl = Path(cfg["acl_file"]).read_text()
    assert "user uav-7\ntopic write fieldpatrol/v1/+/uav-7/#" in acl
    assert "allow_anonymous false" in Path(cfg["config"]).read_text()
