"""The ingest's MQTT client reads every packet that has arrived per wake-up, losing none.

Real Mosquitto, real sockets. paho's own client reads one packet per turn of its network
loop when a subscriber has nothing of its own in flight; ``DrainingClient`` reads all that
have arrived, which gets messages to the ingest's processing thread sooner (figures in
docs/evidence.md). These tests pin the behaviour, not the speed: nothing lost or
reordered across many small reads, and a burst read in a few wake-ups instead of one per
message.
"""

import socket
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.ingest.broker import MosquittoProcess
from telemetry.mqtt_session import DrainingClient, persistent_client
from tests.evidence.conftest import start_client, stop_clients


class CountingClient(DrainingClient):
    """Notes how many messages arrived during each call of ``loop_read`` (each wake-up)."""

    def __init__(self, client_id: str) -> None:
        super().__init__(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            clean_session=None,
            manual_ack=True,
        )
        self.messages = 0
        self.per_read: list[int] = []

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        before = self.messages
        rc = super().loop_read(max_packets)
        self.per_read.append(self.messages - before)
        return rc


def test_the_ingest_gets_a_draining_client() -> None:
    assert type(persistent_client("kind", 5, manual_ack=True, read_all=True)) is DrainingClient
    assert type(persistent_client("kind", 5)) is mqtt.Client  # paho's own, by default


def test_a_backlog_is_read_whole_in_a_few_wake_ups_in_order(broker: MosquittoProcess) -> None:
    """Messages published while the subscriber was away arrive together on its return."""
    sub = CountingClient("drain-sub")
    got: list[bytes] = []
    done = threading.Event()

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        sub.messages += 1
        got.append(bytes(msg.payload))
        c.ack(msg.mid, msg.qos)
        if len(got) == 300:
            done.set()

    sub.on_message = on_message
    pub = persistent_client("drain-pub", 5)
    pub.max_inflight_messages_set(1000)
    try:
        start_client(broker, sub, "drain/#")  # the persistent session now holds the subscription
        stop_clients(sub)
        start_client(broker, pub)
        infos = [pub.publish("drain/x", f"{i}".encode() * 50, qos=1) for i in range(300)]
        for info in infos:
            info.wait_for_publish(10)
        sub.per_read.clear()
        start_client(broker, sub)  # the session resumes: the broker sends the 300 at once
        assert done.wait(20), f"only {len(got)} of 300 messages arrived"
    finally:
        stop_clients(pub, sub)
    assert got == [f"{i}".encode() * 50 for i in range(300)]
    busy = [n for n in sub.per_read if n]
    # paho's own loop_read takes one wake-up per message: 300 here.
    assert sum(busy) == 300
    assert len(busy) <= 50, busy


def test_a_trickle_arrives_message_by_message_without_delay(broker: MosquittoProcess) -> None:
    """One message at a time, 20 ms apart: each is delivered at once, none held back."""
    sub = persistent_client("trickle-sub", 5, read_all=True)
    arrived: dict[int, float] = {}
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        arrived[int(msg.payload)] = time.monotonic()
        if len(arrived) == 20:
            done.set()

    sub.on_message = on_message
    pub = persistent_client("trickle-pub", 5)
    sent: dict[int, float] = {}
    try:
        start_client(broker, sub, "trickle/#")
        start_client(broker, pub)
        for i in range(20):
            sent[i] = time.monotonic()
            pub.publish("trickle/x", str(i).encode(), qos=1)
            time.sleep(0.02)
        assert done.wait(10), f"only {len(arrived)} of 20 messages arrived"
    finally:
        stop_clients(pub, sub)
    delays = sorted(arrived[i] - sent[i] for i in range(20))
    # Generous for a loaded test machine; a reader that waited for more packets, or for
    # paho's 1 s select() timeout, would show here.
    assert delays[len(delays) // 2] < 0.1, delays


def test_reads_are_served_from_one_recv_and_never_cross_connections() -> None:
    """paho's byte-sized reads come from one chunk; a new socket never gets old bytes."""
    client = DrainingClient(callback_api_version=CallbackAPIVersion.VERSION2, client_id="recv")
    calls: list[int] = []
    original = mqtt.Client._sock_recv

    def counted(self: mqtt.Client, bufsize: int) -> bytes:
        calls.append(bufsize)
        return original(self, bufsize)

    first, peer = socket.socketpair()
    second, peer2 = socket.socketpair()
    try:
        for s in (first, second):
            s.setblocking(False)
        mqtt.Client._sock_recv = counted  # type: ignore[method-assign]
        peer.sendall(b"abcdefgh")
        client._sock = first
        assert client._sock_recv(1) == b"a"
        assert client._sock_recv(2) == b"bc"
        assert client._sock_recv(1) == b"d"
        assert len(calls) == 1 and client.buffered() == 4
        # A reconnect: the old connection's last bytes are dropped, not handed on.
        peer2.sendall(b"xyz")
        client._sock = second
        assert client.buffered() == 0
        assert client._sock_recv(2) == b"xy"
        assert client._sock_recv(5) == b"z"  # a short read, as a socket gives it
        with pytest.raises(BlockingIOError):  # empty: paho's "try again later"
            client._sock_recv(1)
        assert len(calls) == 3
    finally:
        mqtt.Client._sock_recv = original  # type: ignore[method-assign]
        client._sock = None
        for s in (first, peer, second, peer2):
            s.close()
