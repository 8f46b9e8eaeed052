"""Content-addressed media store: each blob lives at ``<root>/ab/<sha256>``.

``ab`` are the digest's first two hex digits: 256 folders, made once each. Stores made by
earlier versions keep their two levels, ``<root>/ab/cd/<sha256>`` (65,536 folders): a new
blob there mostly needed a folder of its own, and making a folder cost ext4 more than
writing the 2 kB blob (its inode allocator spreads folders over the disk). Which layout a
store has is written in ``<root>/.layout`` when the store is first opened.

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


#: File in the store root naming its layout.
LAYOUT_FILE = ".layout"
FLAT = "ab/sha256"  # one level of 256 folders: every store made from now on
NESTED = "ab/cd/sha256"  # two levels: stores made before .layout existed
_LEVELS = {FLAT: 1, NESTED: 2}


def store_layout(root: Path) -> str:
    """The layout of the store at ``root`` (recorded on first use; see the module docstring)."""
    marker = root / LAYOUT_FILE
    try:
        layout = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        # Blobs but no layout file: a store of an earlier version, two levels deep.
        earlier = any(not name.startswith(".") for name in os.listdir(root))
        layout = NESTED if earlier else FLAT
        tmp = root / f".layout.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(layout + "\n", encoding="utf-8")
        os.replace(tmp, marker)  # two processes opening a new store write the same text
    if layout not in _LEVELS:
        raise MediaError(
            f"media store {root}: {LAYOUT_FILE} says {layout!r}, not {FLAT!r} or {NESTED!r}; "
            f"restore the file (a store of blobs under ab/cd/ folders is {NESTED!r})"
        )
    return layout


class MediaStore:
    """Blobs on disk under ``root``, addressed by their SHA-256."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        self.layout = store_layout(self.root)
        self._levels = _LEVELS[self.layout]
        # Fan-out folders known to exist: the ingest stores thousands of blobs a second,
        # and a mkdir (or pathlib) per blob cost more than writing it.
        self._folders: set[str] = set()
        # Temporary names unique per process and call without a random number per blob (the
        # process id is the current one: a forked copy of this store must not clash).
        self._tmp_tag = f"{uuid.uuid4().hex[:8]}."
        self._tmp_counter = itertools.count()
        # Blobs put() handed out since the last sync() that may not be durable yet: the ones
        # it wrote, and the ones it found on disk (another process may have written them).
        self.unsynced = 0

    def relative_path(self, sha256: str) -> Path:
        """Path of a blob relative to the root (what the database stores)."""
        if not _SHA256.match(sha256):
            raise MediaError(f"sha256 {sha256!r} is not 64 lower-case hex digits")
        return Path(self._relative(sha256))

    def _relative(self, sha256: str) -> str:
        if self._levels == 1:
            return os.path.join(sha256[:2], sha256)
        return os.path.join(sha256[:2], sha256[2:4], sha256)

    def path_for(self, sha256: str) -> Path:
        """Absolute path of a blob (it may not exist)."""
        return self.root / self.relative_path(sha256)

    def has(self, sha256: str) -> bool:
        """True if the blob's file exists."""
        if not _SHA256.match(sha256):
            raise MediaError(f"sha256 {sha256!r} is not 64 lower-case hex digits")
        return os.path.isfile(os.path.join(self._root, self._relative(sha256)))

    def put(self, data: bytes, expected_sha256: str | None = None) -> StoredMedia:
        """Store ``data``; refuse it if it does not hash to ``expected_sha256``."""
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise MediaError(
                f"media bytes hash to {digest}, not to the announced {expected_sha256}"
            )
        path = os.path.join(self._root, self._relative(digest))
        folder = os.path.dirname(path)
        # The ingest stores thousands of small blobs a second: one mkdir the first time a
        # folder is used, and no stat of a file that cannot be in a folder just made.
        known = folder in self._folders or not self._made(folder)
        if known and os.path.isfile(path):
            # Maybe written by another ingest process that has not synced it yet: the next
            # sync() covers it before a row that points to it can be committed.
            self.unsynced += 1
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
            "path": self._relative(stored.sha256),
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
