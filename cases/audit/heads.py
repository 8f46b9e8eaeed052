"""Signed tree heads: the log key (Ed25519), issuing heads and checking their signatures.

A signed tree head commits to (tree size, root hash, time). The signed bytes are RFC 6962
§3.5's ``TreeHeadSignature``: version 0, signature type 1 (tree_hash), uint64 timestamp in
milliseconds, uint64 tree size, 32-byte root. Every head issued is kept in ``audit_heads``;
:class:`HeadIssuer` issues them periodically, :func:`issue_head` on demand.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from cases.audit import merkle
from cases.audit.errors import LogKeyError, ProofError
from cases.audit.log import _lock_state, count, flush_pending
from cases.audit.models import AuditHead


def key_id(public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte Ed25519 public key (as RFC 6962 names log keys)."""
    return hashlib.sha256(public_key).hexdigest()


class LogKey:
    """The audit log's Ed25519 signing key, kept as a PKCS#8 PEM file readable by its owner."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> LogKey:
        """A fresh random key (not saved)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> LogKey:
        """Read the key at ``path``; LogKeyError says what is wrong with the file."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise LogKeyError(
                f"log key file {path} does not exist: create it with LogKey.load_or_create "
                "(`patrol audit head` does)"
            ) from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise LogKeyError(f"log key file {path} is not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise LogKeyError(f"log key file {path} holds a {type(key).__name__}, not Ed25519")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: str | Path) -> LogKey:
        """Read the key at ``path``, creating it (mode 0600, with a ``.pub`` beside it) first."""
        path = Path(path)
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return key

    def save(self, path: str | Path) -> None:
        """Write the private key (0600) and the public key PEM as ``<path>.pub``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        pub = self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        Path(str(path) + ".pub").write_bytes(pub)

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature of ``data``."""
        return self._private.sign(data)


@dataclass(frozen=True)
class SignedTreeHead:
    """A signed tree head: size, root, time (ms since the epoch), key id and signature."""

    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    key_id: str
    signature: bytes

    def signed_data(self) -> bytes:
        """The RFC 6962 §3.5 TreeHeadSignature bytes the signature covers."""
        return signed_data(self.tree_size, self.root_hash, self.timestamp_ms)

    @property
    def time(self) -> datetime:
        """When the head was issued (UTC)."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (hashes and signature in hex)."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedTreeHead:
        """Parse :meth:`to_dict` output; ProofError names a missing or malformed field."""
        try:
            return cls(
                tree_size=int(data["tree_size"]),
                root_hash=bytes.fromhex(data["root_hash"]),
                timestamp_ms=int(data["timestamp_ms"]),
                key_id=str(data["key_id"]),
                signature=bytes.fromhex(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"signed tree head is malformed ({exc!r}): {data!r}") from exc

    @classmethod
    def from_row(cls, row: AuditHead) -> SignedTreeHead:
        """The head stored in ``row``."""
        return cls(
            tree_size=int(row.tree_size),
            root_hash=bytes(row.root_hash),
            timestamp_ms=int(row.timestamp_ms),
            key_id=row.key_id,
            signature=bytes(row.signature),
        )


def signed_data(tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    """RFC 6962 TreeHeadSignature: version v1 (0), tree_hash (1), timestamp, size, root."""
    return struct.pack(">BBQQ", 0, 1, timestamp_ms, tree_size) + root_hash


def sign_head(key: LogKey, tree_size: int, root_hash: bytes, when: datetime) -> SignedTreeHead:
    """A head for (size, root) signed by ``key`` at ``when``."""
    ts = int(when.timestamp() * 1000)
    sig = key.sign(signed_data(tree_size, root_hash, ts))
    return SignedTreeHead(tree_size, root_hash, ts, key.key_id, sig)


def verify_head(head: SignedTreeHead, public_key: bytes) -> None:
    """Raise ProofError unless ``head`` is signed by the Ed25519 ``public_key``."""
    if len(public_key) != 32:
        raise ProofError(f"log public key is {len(public_key)} bytes, Ed25519 keys are 32")
    if head.key_id != key_id(public_key):
        raise ProofError(
            f"signed tree head of size {head.tree_size} names key {head.key_id[:16]}…, "
            f"not the log key {key_id(public_key)[:16]}…"
        )
    if len(head.root_hash) != merkle.HASH_SIZE:
        raise ProofError(f"signed tree head root is {len(head.root_hash)} bytes, not 32")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(head.signature, head.signed_data())
    except InvalidSignature as exc:
        raise ProofError(
            f"signature of the tree head of size {head.tree_size} "
            f"(root {head.root_hash.hex()[:16]}…) is forged or damaged"
        ) from exc


def issue_head(session: Session, key: LogKey, when: datetime | None = None) -> SignedTreeHead:
    """Sign the current tree (size, root, now), keep the head, and return it."""
    flush_pending(session)
    size, peaks = _lock_state(session)
    head = sign_head(key, size, merkle.root_from_peaks(peaks), when or datetime.now(UTC))
    session.execute(
        insert(AuditHead).values(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp_ms=head.timestamp_ms,
            key_id=head.key_id,
            signature=head.signature,
        )
    )
    return head


def latest_head(session: Session) -> SignedTreeHead | None:
    """The most recently issued head, or None if none was issued yet."""
    row = session.scalars(select(AuditHead).order_by(AuditHead.id.desc()).limit(1)).first()
    return SignedTreeHead.from_row(row) if row is not None else None


def all_heads(session: Session) -> list[tuple[int, SignedTreeHead]]:
    """Every head kept, as (row id, head), in the order issued."""
    rows = session.scalars(select(AuditHead).order_by(AuditHead.id)).all()
    return [(row.id, SignedTreeHead.from_row(row)) for row in rows]


def current_head(session: Session, key: LogKey) -> SignedTreeHead:
    """The latest head if it covers the whole log, else a newly issued one."""
    head = latest_head(session)
    if head is not None and head.tree_size == count(session) and head.key_id == key.key_id:
        return head
    return issue_head(session, key)


class HeadIssuer:
    """Issues a signed tree head every ``interval_s`` seconds while the log grows.

    Runs in a daemon thread with its own sessions; ``stop()`` ends it within a second.
    """

    def __init__(
        self, sessions: sessionmaker[Session], key: LogKey, interval_s: float = 60.0
    ) -> None:
        if interval_s <= 0:
            raise ProofError(f"interval_s={interval_s}: give a positive number of seconds")
        self.sessions = sessions
        self.key = key
        self.interval_s = interval_s
        self.issued = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HeadIssuer:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="audit-head-issuer", daemon=True)
        self._thread.start()
        return self

    def tick(self) -> SignedTreeHead | None:
        """Issue a head now if entries were added since the last one."""
        with self.sessions() as session:
            head = latest_head(session)
            if head is not None and head.tree_size == count(session):
                return None
            new = issue_head(session, self.key)
            session.commit()
            self.issued += 1
            return new

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception as exc:  # keep issuing after a transient database error
                self.error = exc

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> HeadIssuer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
