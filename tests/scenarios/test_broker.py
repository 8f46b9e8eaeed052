"""The scenario's private Mosquitto keeps its sessions across a `broker_restart`.

A real Mosquitto and real paho clients: a message the broker acknowledged for an offline
persistent session must still be delivered after the broker was stopped and started again
(otherwise the broker-restart scenario loses evidence the vehicle already handed over).
"""

from __future__ import annotations

import threading

import pytest

from patrol.scenarios.broker import PERSISTENCE_FILE, ScenarioBroker, mosquitto_binary
from telemetry.mqtt_session import connect_persistent, persistent_client

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs the mosquitto binary")


def test_a_queued_message_survives_a_broker_restart() -> None:
    broker = ScenarioBroker().start()
    subscriber = persistent_client("scenario-broker-test-sub", 5, manual_ack=False)
    publisher = persistent_client("scenario-broker-test-pub", 5)
    got: list[bytes] = []
    subscribed, arrived, connected = threading.Event(), threading.Event(), threading.Event()
    publisher.on_connect = lambda c, u, f, rc, p: connected.set()
    subscriber.on_connect = lambda c, u, f, rc, p: c.subscribe("scn/#", qos=1)
    subscriber.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()

    def on_message(client: object, userdata: object, msg: object) -> None:
        got.append(bytes(msg.payload))  # type: ignore[attr-defined]
        arrived.set()

    subscriber.on_message = on_message
    try:
        connect_persistent(
            subscriber, "127.0.0.1", broker.port, mqtt_version=5, keepalive_s=5,
            session_expiry_s=600,
        )  # fmt: skip
        subscriber.loop_start()
        assert subscribed.wait(10), "the subscriber's subscription was not acknowledged"
        subscriber.disconnect()
        subscriber.loop_stop()

        # Published while the subscriber is away: the broker holds it in the session.
        connect_persistent(
            publisher, "127.0.0.1", broker.port, mqtt_version=5, keepalive_s=5,
            session_expiry_s=600,
        )  # fmt: skip
        publisher.loop_start()
        assert connected.wait(10), "the publisher did not connect"
        info = publisher.publish("scn/evidence", b"item-1", qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
        publisher.disconnect()
        publisher.loop_stop()

        broker.restart(down_s=0.2)
        assert broker.restarts == 1
        assert broker._dir is not None and (broker._dir / PERSISTENCE_FILE).is_file()

        subscribed.clear()
        connect_persistent(
            subscriber, "127.0.0.1", broker.port, mqtt_version=5, keepalive_s=5,
            session_expiry_s=600,
        )  # fmt: skip
        subscriber.loop_start()
        assert arrived.wait(10), "the message queued before the restart was lost"
        assert got == [b"item-1"]
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
        publisher.loop_stop()
        broker.stop()
