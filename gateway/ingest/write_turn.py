"""Ingest processes on one SQLite file take turns at its write lock through a lock file.

SQLite lets one transaction write at a time. A second ingest process that finds the write
lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
50, 100 ms between tries: it usually wakes well after the lock came free, and the database
stands idle in between (time lost from every batch of both processes). With a lock file
held around each write transaction, the waiting process is woken by the kernel the moment
the other lets go, and starts writing at once.

The lock is an ``flock`` on ``<database>.ingest-lock``: the kernel releases it when a holder
dies, so a crashed ingest never blocks the others. It is advisory and only the ingest takes
it; other writers (the gateway's API) still meet SQLite's own lock and busy timeout.
"""

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

#: How long to wait for the turn before writing anyway (SQLite's busy timeout still holds).
TURN_TIMEOUT_S = 30.0


class WriteTurn:
    """An exclusive turn at writing to the SQLite database at ``database``.

    ``with turn:`` waits (at most ``timeout_s``) for the turn and gives it back at the end.
    ``waited_s`` adds up the time spent waiting for it, ``timeouts`` the waits given up.

    A free turn is taken at once (``LOCK_NB``). A taken one is waited for by a helper
    thread in a blocking ``flock``, which the kernel wakes the moment the holder lets go,
    while the caller waits for the helper with a timeout: no polling (a loop of tries every
    0.2-2 ms showed up in 5 % of an ingest process's profile samples), and still no wait
    without an end.
    """

    def __init__(self, database: str | Path, timeout_s: float = TURN_TIMEOUT_S) -> None:
        self.path = Path(f"{database}.ingest-lock")
        self.timeout_s = timeout_s
        self.waited_s = 0.0
        self.timeouts = 0
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._held = False
        self._mutex = threading.Lock()  # orders "granted" against "abandoned"
        self._request = threading.Event()
        self._granted = threading.Event()
        self._abandoned = False
        self._closing = False
        self._helper: threading.Thread | None = None

    def __enter__(self) -> "WriteTurn":
        fd = self._fd
        if fd is None:
            return self  # closed: the database's own lock still applies
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            self._held = True
            return self
        start = time.monotonic()
        with self._mutex:
            self._granted.clear()
            self._abandoned = False
        if self._helper is None:
            self._helper = threading.Thread(
                target=self._wait_for_turn, name=f"write-turn {self.path.name}", daemon=True
            )
            self._helper.start()
        self._request.set()
        granted = self._granted.wait(self.timeout_s)
        with self._mutex:
            if not granted and not self._granted.is_set():
                # Something holds the turn for too long (a hung process): go ahead and let
                # SQLite's lock and busy timeout decide, rather than stall forever. The
                # helper gives the turn straight back if it gets it later.
                self._abandoned = True
                self.timeouts += 1
            else:
                self._held = True
        self.waited_s += time.monotonic() - start
        return self

    def _wait_for_turn(self) -> None:
        """Helper thread: take the turn in a blocking ``flock`` whenever asked to."""
        while True:
            self._request.wait()
            self._request.clear()
            fd = self._fd
            if self._closing or fd is None:
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # closed under us
                return
            with self._mutex:
                if self._abandoned or self._closing:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                else:
                    self._granted.set()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._held and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._held = False

    def close(self) -> None:
        """Close the lock file and end the helper thread (idempotent)."""
        with self._mutex:
            self._closing = True
            fd, self._fd = self._fd, None
        self._request.set()
        if self._helper is not None:
            # Not blocked in flock (the turn is ours or free while nobody waits): it ends at
            # once; blocked behind a hung holder, it is a daemon and goes with the process.
            self._helper.join(timeout=1.0)
        if fd is not None:
            os.close(fd)
