"""Ingest processes on one SQLite file take turns at its write lock through a lock file.

SQLite lets one transaction write at a time. A second ingest process that finds the write
lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
50, 100 ms between tries: it usually wakes well after the lock came free, and the database
stands idle in between (time lost from every batch of both processes). With a lock file
held around each write transaction, the waiting process asks again every fraction of a
millisecond instead and starts as soon as the other commits.

The lock is an ``flock`` on ``<database>.ingest-lock``: the kernel releases it when a holder
dies, so a crashed ingest never blocks the others. It is advisory and only the ingest takes
it; other writers (the gateway's API) still meet SQLite's own lock and busy timeout.
"""

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

#: How long to wait for the turn before writing anyway (SQLite's busy timeout still holds).
TURN_TIMEOUT_S = 30.0

# Polling interval while another process writes: short at first (most transactions are a
# few tens of milliseconds), longer if the wait drags on.
_FIRST_PAUSE_S = 0.0002
_MAX_PAUSE_S = 0.002


class WriteTurn:
    """An exclusive turn at writing to the SQLite database at ``database``.

    ``with turn:`` waits (at most ``timeout_s``) for the turn and gives it back at the end.
    ``waited_s`` adds up the time spent waiting, for the ingest's metrics.
    """

    def __init__(self, database: str | Path, timeout_s: float = TURN_TIMEOUT_S) -> None:
        self.path = Path(f"{database}.ingest-lock")
        self.timeout_s = timeout_s
        self.waited_s = 0.0
        self.timeouts = 0
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._held = False

    def __enter__(self) -> "WriteTurn":
        fd = self._fd
        if fd is None:
            return self  # closed: the database's own lock still applies
        start = time.monotonic()
        pause = _FIRST_PAUSE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= self.timeout_s:
                    # Something holds the turn for too long (a hung process): go ahead and
                    # let SQLite's lock and busy timeout decide, rather than stall forever.
                    self.timeouts += 1
                    self.waited_s += waited
                    return self
                time.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
                continue
            self._held = True
            self.waited_s += time.monotonic() - start
            return self

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
        """Close the lock file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
