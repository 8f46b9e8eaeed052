"""``python -m gateway.ingest --processes N``: a supervisor of N ingest processes.

With our own Mosquitto and a SQLite case record: both children take a share and every item
lands exactly once; a child SIGKILLed mid-stream is restarted with its client id (its
persistent session's messages are not stranded); a child that cannot start makes the
supervisor exit 1 with the child's output and leaves no process behind; children do not
outlive a SIGKILLed supervisor; a child that keeps dying makes the supervisor give up.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.models import DeadLetter, Evidence
from gateway.ingest import supervisor
from gateway.ingest.__main__ import build_parser
from gateway.ingest.broker import MosquittoProcess, free_port
from telemetry.outbox import Outbox
from telemetry.publisher import EvidencePublisher
from telemetry.signing import DeviceKey

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 300

pytestmark = pytest.mark.timeout(60)


def child_pids(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (zombies have none)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


class Supervised:
    """The supervisor process; its stdout lines are read into a queue, stderr to a file."""

    def __init__(self, tmp: Path, port: int, db_url: str, *extra: str) -> None:
        self.client_id = f"gw-{uuid.uuid4().hex[:8]}"  # also finds its children in /proc
        self.stderr_path = tmp / "supervisor.err"
        args = [
            sys.executable, "-m", "gateway.ingest", "--processes", "2", "--port", str(port),
            "--database-url", db_url, "--media-dir", str(tmp / "media"),
            "--client-id", self.client_id, *extra,
        ]  # fmt: skip
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
            )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_json(self, timeout: float) -> dict[str, Any]:
        try:
            return dict(json.loads(self.lines.get(timeout=timeout)))
        except queue.Empty:
            pytest.fail(f"no line from the supervisor in {timeout} s; stderr: {self.stderr()}")

    def children(self) -> list[int]:
        """Pids of the live child processes (their client ids are ``<client-id>-p<i>``)."""
        return child_pids(f"{self.client_id}-p")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def stop(self) -> tuple[int, dict[str, Any]]:
        """SIGTERM; the exit code and the merged metrics line."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        return code, self.next_json(5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.children():  # only if the test failed half-way
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def supervised(
    tmp_path: Path, broker: MosquittoProcess, db_url: str
) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def start(*extra: str, port: int | None = None) -> Supervised:
        s = Supervised(tmp_path, port or broker.port, db_url, *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def publish(
    tmp: Path, port: int, key: DeviceKey, item: Callable[..., Any], n: int, per_s: float = 0.0
) -> EvidencePublisher:
    """A vehicle's publisher sending items 0..n-1: all at once, or ``per_s`` items a second."""
    items = [item(key, seq) for seq in range(n)]
    outbox = Outbox(tmp / "outbox.sqlite", synchronous="NORMAL")
    pub = EvidencePublisher(outbox, "127.0.0.1", port, "edge-uav-1", inflight=500)
    if not per_s:
        outbox.add_many(items)
        pub.start()
        return pub
    pub.start()

    def feed() -> None:
        chunk = max(1, int(per_s / 10))
        for i in range(0, n, chunk):
            pub.submit_many(items[i : i + chunk])
            time.sleep(0.1)

    threading.Thread(target=feed, daemon=True).start()
    return pub


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Evidence)) or 0)


def wait_count(sessions: sessionmaker[Session], n: int, timeout: float, sup: Supervised) -> None:
    deadline = time.monotonic() + timeout
    while count(sessions) < n:
        if sup.proc.poll() is not None:
            pytest.fail(f"supervisor exited with {sup.proc.returncode}: {sup.stderr()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{count(sessions)} of {n} items after {timeout} s: {sup.stderr()}")
        time.sleep(0.1)


def assert_exactly_once(sessions: sessionmaker[Session], n: int) -> None:
    with sessions() as session:
        ids = list(session.scalars(select(Evidence.id)))
        assert sorted(ids) == sorted(f"ev-uav-1-{seq}" for seq in range(n))
        assert session.scalars(select(DeadLetter.reason)).all() == []
        received = session.scalar(
            select(func.count())
            .select_from(audit.AuditEntry)
            .where(audit.AuditEntry.action == "evidence.received")
        )
        assert received == n  # one audit entry per item: none processed twice


def test_two_processes_share_the_stream(
    tmp_path: Path,
    broker: MosquittoProcess,
    sessions: sessionmaker[Session],
    device_key: DeviceKey,
    item: Callable[..., Any],
    supervised: Callable[..., Supervised],
) -> None:
    sup = supervised()
    ready = sup.next_json(30)
    assert ready["ready"] is True and ready["processes"] == 2
    ids = [f"{sup.client_id}-p0", f"{sup.client_id}-p1"]
    assert ready["client_ids"] == ids
    assert sorted(sup.children()) == sorted(ready["pids"])

    pub = publish(tmp_path, broker.port, device_key, item, ITEMS)
    try:
        wait_count(sessions, ITEMS, 20, sup)
    finally:
        pub.stop()
    code, merged = sup.stop()

    assert code == 0, sup.stderr()
    assert merged["processes"] == 2 and merged["restarts"] == 0
    assert merged["counts"]["stored"] == ITEMS
    assert merged["counts"]["media"] == ITEMS
    assert merged["dead_letters"] == {}
    assert {"latency_p50_ms", "latency_p99_ms"} <= merged.keys()
    children = {c["client_id"]: c for c in merged["children"]}
    assert sorted(children) == ids
    stored = [children[cid]["counts"].get("stored", 0) for cid in ids]
    assert all(s > 0 for s in stored), f"one child took no share: {stored}"
    assert sum(stored) == ITEMS
    assert all(c["returncode"] == 0 for c in children.values())
    assert_exactly_once(sessions, ITEMS)
    assert sup.children() == []


def test_killed_child_is_restarted_and_nothing_is_lost(
    tmp_path: Path,
    broker: MosquittoProcess,
    sessions: sessionmaker[Session],
    device_key: DeviceKey,
    item: Callable[..., Any],
    supervised: Callable[..., Supervised],
) -> None:
    sup = supervised()
    ready = sup.next_json(30)
    victim = ready["pids"][0]

    # Paced (about 3 s for all): the kill lands while the stream flows.
    pub = publish(tmp_path, broker.port, device_key, item, ITEMS, per_s=100)
    try:
        wait_count(sessions, 30, 20, sup)
        assert count(sessions) < ITEMS, "too late to kill mid-stream"
        os.kill(victim, signal.SIGKILL)
        # The killed child's session holds its share (in flight and queued while it is
        # down): only its restart, with the same client id, lets all of them land.
        wait_count(sessions, ITEMS, 20, sup)
    finally:
        pub.stop()
    code, merged = sup.stop()

    assert code == 0, sup.stderr()
    err = sup.stderr()
    assert f"child {sup.client_id}-p0 (pid {victim}) died unexpectedly" in err
    assert f"restarted child {sup.client_id}-p0" in err
    assert merged["restarts"] == 1
    assert_exactly_once(sessions, ITEMS)
    assert sup.children() == []


@pytest.mark.parametrize("failure", ["bad_database", "no_broker"])
def test_child_that_cannot_start_stops_everything(
    failure: str, tmp_path: Path, supervised: Callable[..., Supervised]
) -> None:
    if failure == "bad_database":
        # make_engine cannot create the SQLite file's folder under /proc.
        sup = supervised("--database-url", "sqlite:////proc/no-such/fieldpatrol.db")
        expected = "cannot create the folder"
    else:
        sup = supervised("--start-timeout", "2", port=free_port())  # nothing listens there
        expected = "could not subscribe"
    code = sup.proc.wait(25)
    err = sup.stderr()

    assert code == 1, err
    assert f"error: child {sup.client_id}-p" in err and "before it was ready" in err
    assert expected in err
    assert sup.lines.empty(), "no ready line, no metrics line"
    assert sup.children() == []


def test_children_die_with_a_killed_supervisor(
    supervised: Callable[..., Supervised],
) -> None:
    sup = supervised()
    ready = sup.next_json(30)
    assert sorted(sup.children()) == sorted(ready["pids"])
    sup.proc.kill()
    sup.proc.wait(5)
    deadline = time.monotonic() + 15
    while sup.children():
        assert time.monotonic() < deadline, "children outlived their supervisor"
        time.sleep(0.1)


def test_a_child_that_keeps_dying_stops_the_supervisor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The restart policy alone, on a child that exits at once, with short backoffs.
    monkeypatch.setattr(supervisor, "BACKOFF_FIRST_S", 0.01)
    monkeypatch.setattr(supervisor, "BACKOFF_CAP_S", 0.05)
    args = build_parser().parse_args(
        ["--processes", "2", "--database-url", "sqlite://", "--media-dir", "m"]
    )
    sup = supervisor.Supervisor(args)
    child = sup.children[0]
    sup.children = [child]
    child.argv = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
    child.start()
    deadline = time.monotonic() + 10
    while sup._watch():
        assert time.monotonic() < deadline, "the supervisor never gave up"
        time.sleep(0.01)
    err = capsys.readouterr().err
    assert child.restarts == supervisor.FAIL_LIMIT - 1
    assert f"child {child.client_id} died {supervisor.FAIL_LIMIT} times within 60 s" in err
    assert "last exit code 3" in err and "boom" in err
    assert "restarting it in" in err
