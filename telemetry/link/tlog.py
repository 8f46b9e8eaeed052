"""A ``.tlog`` writer: every MAVLink frame in both directions, each preceded by its receive or
send time as a big-endian uint64 of microseconds since the Unix epoch (MAVProxy/Mission
Planner format), with the file's sha256 computed as it is written for the case file."""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from pathlib import Path


class TlogWriter:
    """Append-only ``.tlog`` file, safe to write from the reader thread and the event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()
        self._closed = False
        self.frames = 0

    def write(self, frame: bytes, when: float | None = None) -> None:
        """Record one MAVLink frame (as on the wire) with its time."""
        usec = int((time.time() if when is None else when) * 1e6) & ~3
        data = struct.pack(">Q", usec) + bytes(frame)
        with self._lock:
            if self._closed:
                return
            self._file.write(data)
            self._hash.update(data)
            self.frames += 1

    def close(self) -> str:
        """Flush and close the file; return its sha256 (hex)."""
        with self._lock:
            if not self._closed:
                self._file.flush()
                self._file.close()
                self._closed = True
            return self._hash.hexdigest()

    @property
    def sha256(self) -> str:
        """The sha256 (hex) of what has been written so far."""
        with self._lock:
            return self._hash.copy().hexdigest()
