"""Several ingest processes under one supervisor: ``python -m gateway.ingest --processes N``.

One ingest process is bound by the GIL (``--workers N`` only adds threads); N processes on
a shared subscription use N cores. The supervisor starts N children ``python -m
gateway.ingest`` with the same arguments except ``--processes 1``, ``--share <group>`` (the
given one, else ``ingest``) and ``--client-id <client-id>-p<i>``. Each child's client id is
stable across restarts because it names the persistent MQTT session that holds the child's
unacknowledged messages: a restarted child resumes them, nothing is lost or stranded.

* ``--upgrade`` runs once, here, before the children start.
* The supervisor prints its ``{"ready": true, "processes": N, ...}`` line once every child
  printed its own; a child that exits or stays silent before that stops everything (exit 1,
  the child's last output lines on stderr).
* A child that dies afterwards (not during shutdown) is restarted with the same client id
  after a backoff (1 s, doubling up to 30 s); five deaths within 60 s stop everything (exit 1).
* SIGTERM/SIGINT are forwarded to every child; the supervisor waits (bounded, then kills)
  and prints one JSON line: the children's metrics merged (see :func:`merge_snapshots`).
* Children die with the supervisor even if it is SIGKILLed: each child asks the kernel for
  SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, see :func:`die_with_parent`).
"""

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from cases.db import upgrade

# The child learns its supervisor's pid from here (for die_with_parent).
PARENT_ENV = "FIELDPATROL_INGEST_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1

BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 30.0
FAIL_WINDOW_S = 60.0
FAIL_LIMIT = 5
# Interpreter start, imports and engine before a child's workers even try to connect.
START_SLACK_S = 30.0
STOP_GRACE_S = 10.0  # per worker thread of a child (each stops with timeout 10 s)


def log(msg: str) -> None:
    """One line on the supervisor's stderr."""
    print(f"ingest supervisor: {msg}", file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """In a child: get SIGTERM when the supervisor dies, however it dies (Linux only).

    Called by the child itself early in ``main`` rather than in a ``preexec_fn``: the
    supervisor has reader threads, and Python code between fork and exec in a threaded
    process can deadlock. The parent-pid check closes the window between fork and here.
    The signal is tied to the thread that forked the child: the supervisor spawns from its
    main thread only, which lives as long as the process.
    """
    expected = os.environ.get(PARENT_ENV)
    if not expected or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"warning: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}", file=sys.stderr)
    if os.getppid() != int(expected):
        # The supervisor died before the prctl: nobody would stop this child.
        print("error: the ingest supervisor is gone; exiting", file=sys.stderr, flush=True)
        sys.exit(1)


def child_argv(args: argparse.Namespace, client_id: str, share: str) -> list[str]:
    """The command line of one child: the supervisor's own options, except the four below.

    Built from the parsed options (so ``--opt=value`` and abbreviations need no care); this
    relies on every option's name being its ``dest`` with dashes, as in ``__main__``.
    """
    argv = [sys.executable, "-m", "gateway.ingest"]
    for name, value in vars(args).items():
        if name in ("processes", "share", "client_id", "upgrade") or value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    return [*argv, "--processes", "1", "--share", share, "--client-id", client_id]


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics dict of the shape ``IngestMetrics.snapshot`` gives, from several.

    Counters and dead letters are summed. Percentiles cannot be merged from percentiles:
    the latency figures are the worst child's (an upper bound of the overall figure).
    """
    counts: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    p50: list[float] = []
    p99: list[float] = []
    for snap in snapshots:
        counts.update(snap.get("counts") or {})
        dead.update(snap.get("dead_letters") or {})
        if snap.get("latency_p50_ms") is not None:
            p50.append(float(snap["latency_p50_ms"]))
        if snap.get("latency_p99_ms") is not None:
            p99.append(float(snap["latency_p99_ms"]))
    return {
        "counts": dict(counts),
        "dead_letters": dict(dead),
        "latency_p50_ms": max(p50) if p50 else None,
        "latency_p99_ms": max(p99) if p99 else None,
    }


@dataclass
class Child:
    """One child process slot: its client id survives restarts, its process does not."""

    index: int
    client_id: str
    argv: list[str]
    proc: subprocess.Popen[str] | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    # Metrics lines of this slot's processes that stopped cleanly (one per incarnation).
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)
    deaths: deque[float] = field(default_factory=deque)  # monotonic times, last FAIL_WINDOW_S
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        """Spawn the process (from the supervisor's main thread: see die_with_parent)."""
        self.ready.clear()
        env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.readers = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            try:
                obj = json.loads(line)
            except ValueError:
                print(f"[{self.client_id}] {line}", file=sys.stderr, flush=True)
                continue
            if isinstance(obj, dict) and obj.get("ready"):
                self.ready.set()
            elif isinstance(obj, dict) and "counts" in obj:
                self.snapshots.append(obj)

    def _read_stderr(self, stream: IO[str]) -> None:
        # Passed on with the child's name, and kept for the error message if it fails.
        for line in stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            print(f"[{self.client_id}] {line}", file=sys.stderr, flush=True)

    def finish_reading(self, timeout: float) -> None:
        """Wait for the readers to reach the end of the dead process's output."""
        deadline = time.monotonic() + timeout
        for t in self.readers:
            t.join(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def last_output(self) -> str:
        return "\n".join(f"    {line}" for line in self.lines) or "    (no output)"


class Supervisor:
    """Start, watch, restart and stop the children; see the module docstring."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n = args.processes
        share = args.share or "ingest"
        self.children = [
            Child(i, cid, child_argv(args, cid, share))
            for i in range(self.n)
            for cid in [f"{args.client_id}-p{i}"]
        ]
        self.stop = threading.Event()
        workers = max(1, args.workers)
        self.ready_timeout = args.start_timeout * workers + START_SLACK_S
        self.stop_timeout = STOP_GRACE_S * workers + 5.0

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()

    def run(self) -> int:
        """Run until a signal or a fatal failure; the process exit code."""
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        if self.args.upgrade:
            upgrade(self.args.database_url)
        for child in self.children:
            child.start()
        if not self._wait_ready():
            return 1
        print(
            json.dumps(
                {
                    "ready": True,
                    "processes": self.n,
                    "workers": self.n * self.args.workers,
                    "client_ids": [c.client_id for c in self.children],
                    "pids": [c.proc.pid for c in self.children if c.proc is not None],
                }
            ),
            flush=True,
        )
        while not self.stop.wait(0.2):
            if not self._watch():
                self._shutdown()
                return 1
        return self._shutdown()

    def _wait_ready(self) -> bool:
        """True once every child is ready; else stop them all, explain, False."""
        deadline = time.monotonic() + self.ready_timeout
        while not all(c.ready.is_set() for c in self.children):
            if self.stop.is_set():
                log("stopped before all children were ready")
                self._shutdown()
                return False
            for child in self.children:
                if not child.ready.is_set() and not child.running:
                    child.finish_reading(2.0)
                    code = child.proc.returncode if child.proc else None
                    self._fail(
                        f"child {child.client_id} exited with code {code} before it was "
                        f"ready; its last output:\n{child.last_output()}"
                    )
                    return False
            if time.monotonic() > deadline:
                late = [c.client_id for c in self.children if not c.ready.is_set()]
                details = "\n".join(
                    f"  {c.client_id}:\n{c.last_output()}"
                    for c in self.children
                    if not c.ready.is_set()
                )
                self._fail(
                    f"children {', '.join(late)} not ready within {self.ready_timeout:.0f} s "
                    f"(check the broker address and the database); last output:\n{details}"
                )
                return False
            time.sleep(0.05)
        return True

    def _fail(self, message: str) -> None:
        log(f"error: {message}")
        self._shutdown(quiet=True)

    def _watch(self) -> bool:
        """Restart children that died; False if one keeps dying (the supervisor gives up)."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    child.start()
                    log(f"restarted child {child.client_id} (pid {child.proc.pid})")  # type: ignore[union-attr]
                continue
            if child.running or child.proc is None:
                continue
            code = child.proc.returncode
            child.finish_reading(1.0)
            while child.deaths and now - child.deaths[0] > FAIL_WINDOW_S:
                child.deaths.popleft()
            child.deaths.append(now)
            if len(child.deaths) >= FAIL_LIMIT:
                log(
                    f"error: child {child.client_id} died {len(child.deaths)} times within "
                    f"{FAIL_WINDOW_S:.0f} s (last exit code {code}); stopping all children. "
                    f"Its last output:\n{child.last_output()}"
                )
                return False
            backoff = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** (len(child.deaths) - 1))
            child.restart_at = now + backoff
            log(
                f"child {child.client_id} (pid {child.proc.pid}) died unexpectedly with exit "
                f"code {code}; restarting it in {backoff:.0f} s"
            )
        return True

    def _shutdown(self, quiet: bool = False) -> int:
        """Forward SIGTERM, wait (bounded), kill the rest; print merged metrics unless quiet."""
        live = [c for c in self.children if c.running]
        for child in live:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.stop_timeout
        # A child that died and waits for its restart did not stop cleanly.
        clean = not any(c.restart_at is not None for c in self.children)
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"child {child.client_id} still up after {self.stop_timeout:.0f} s; killed")
                child.proc.kill()
                child.proc.wait(5)
            clean = clean and child.proc.returncode == 0
            child.finish_reading(2.0)
        if quiet:
            return 1
        merged = merge_snapshots([s for c in self.children for s in c.snapshots])
        merged["processes"] = self.n
        merged["restarts"] = sum(c.restarts for c in self.children)
        merged["children"] = [
            {
                "client_id": c.client_id,
                "returncode": c.proc.returncode if c.proc else None,
                "restarts": c.restarts,
                "counts": merge_snapshots(c.snapshots)["counts"],
            }
            for c in self.children
        ]
        print(json.dumps(merged), flush=True)
        return 0 if clean else 1


def run(args: argparse.Namespace) -> int:
    """Supervise ``args.processes`` ingest children; the exit code."""
    return Supervisor(args).run()
