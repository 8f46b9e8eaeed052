"""Content-addressed media store: each blob lives at ``<root>/ab/cd/<sha256>``.

A blob is written to a temporary file and renamed into place, so a crash never leaves a
partial file under a digest name. Writes are not fsynced one by one: the ingest calls
:meth:`MediaStore.sync` once per batch, before it commits the database rows that point to
the files and before it acknowledges the messages (one filesystem sync instead of hundreds).
The ``media`` table row keeps the path relative to the store root.
"""

import ctypes
import ctypes.util
import hashlib
import itertools
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from cases.models import Media, utcnow

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)

# The process id in temporary names, kept current in forked children (a getpid per blob
# showed up in the ingest's system calls).
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


class MediaError(ValueError):
    """A blob does not match its digest, or a digest is not a SHA-256."""


@dataclass(frozen=True)
class StoredMedia:
    """Where a blob was put and whether it was new."""

    sha256: str
    file: str  # absolute path as text: a Path per blob costs more than writing a small blob
    size: int
    new: bool

    @property
    def path(self) -> Path:
        """Absolute path of the blob."""
        return Path(self.file)


def sniff_content_type(data: bytes) -> str:
    """Guess the MIME type of a blob from its first bytes (images and video we expect)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


class MediaStore:
    """Blobs on disk under ``root``, addressed by their SHA-256."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        # Fan-out folders known to exist: the ingest stores thousands of blobs a second,
        # and a mkdir (or pathlib) per blob cost more than writing it.
        self._folders: set[str] = set()
        # Temporary names unique per process and call without a random number per blob (the
        # process id is the current one: a forked copy of this store must not clash).
        self._tmp_tag = f"{uuid.uuid4().hex[:8]}."
        self._tmp_counter = itertools.count()
        self.unsynced = 0  # blobs this store wrote since its last sync()

    def relative_path(self, sha256: str) -> Path:
        """Path of a blob relative to the root (what the database stores)."""
        if not _SHA256.match(sha256):
            raise MediaError(f"sha256 {sha256!r} is not 64 lower-case hex digits")
        return Path(sha256[:2]) / sha256[2:4] / sha256

    def path_for(self, sha256: str) -> Path:
        """Absolute path of a blob (it may not exist)."""
        return self.root / self.relative_path(sha256)

    def has(self, sha256: str) -> bool:
        """True if the blob's file exists."""
        if not _SHA256.match(sha256):
            raise MediaError(f"sha256 {sha256!r} is not 64 lower-case hex digits")
        return os.path.isfile(os.path.join(self._root, sha256[:2], sha256[2:4], sha256))

    def put(self, data: bytes, expected_sha256: str | None = None) -> StoredMedia:
        """Store ``data``; refuse it if it does not hash to ``expected_sha256``."""
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise MediaError(
                f"media bytes hash to {digest}, not to the announced {expected_sha256}"
            )
        folder = os.path.join(self._root, digest[:2], digest[2:4])
        path = os.path.join(folder, digest)
        # The ingest stores thousands of small blobs a second into a store whose 65,536
        # fan-out folders mostly do not exist yet: one mkdir, and no stat of a file that
        # cannot be in a folder we have just made.
        known = folder in self._folders or not self._made(folder)
        if known and os.path.isfile(path):
            return StoredMedia(digest, path, len(data), new=False)
        tmp = os.path.join(folder, f".{digest}.{_pid}.{self._tmp_tag}{next(self._tmp_counter)}.tmp")
        # os.open, not open(): the file object would add an fstat, an ioctl and an lseek to
        # the three system calls a blob needs.
        fd = os.open(tmp, _CREATE, 0o666)  # as open() would: the umask decides
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self.unsynced += 1
        return StoredMedia(digest, path, len(data), new=True)

    def _made(self, folder: str) -> bool:
        """Create a fan-out folder; True if it is new (False: it existed already)."""
        try:
            os.mkdir(folder)
        except FileExistsError:
            made = False
        except FileNotFoundError:  # its parent (the first fan-out level) is missing too
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            try:
                os.mkdir(folder)
                made = True
            except FileExistsError:  # made by another worker in between
                made = False
        else:
            made = True
        self._folders.add(folder)
        return made

    def read(self, sha256: str) -> bytes:
        """The blob's bytes (``FileNotFoundError`` when absent)."""
        return self.path_for(sha256).read_bytes()

    def verify(self, sha256: str) -> bool:
        """True if the blob exists and still hashes to its name."""
        try:
            data = self.read(sha256)
        except FileNotFoundError:
            return False
        return hashlib.sha256(data).hexdigest() == sha256

    def sync(self) -> None:
        """Make every blob written so far durable (one ``syncfs`` of the store's filesystem)."""
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _libc.syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)
        self.unsynced = 0

    def row(self, stored: StoredMedia, content_type: str) -> dict[str, object]:
        """The ``media`` table row of a stored blob (for a bulk insert)."""
        return {
            "sha256": stored.sha256,
            "size": stored.size,
            "content_type": content_type,
            # relative_path without the checks: put() made the digest itself.
            "path": os.path.join(stored.sha256[:2], stored.sha256[2:4], stored.sha256),
            "received_at": utcnow(),
        }

    def record(self, session: Session, stored: StoredMedia, content_type: str) -> bool:
        """Add the blob's ``media`` row if missing; True if it was added."""
        if session.get(Media, stored.sha256) is not None:
            return False
        session.add(
            Media(
                sha256=stored.sha256,
                size=stored.size,
                content_type=content_type,
                path=str(self.relative_path(stored.sha256)),
                received_at=utcnow(),
            )
        )
        return True
