"""SQLAlchemy models of the audit log: entries (leaves), tree nodes, tree state, signed heads.

``audit_entries.id`` is the leaf index (0-based, contiguous). ``audit_nodes`` holds every
complete subtree hash above the leaves (level >= 1), so any root or proof needs only
``O(log n)`` rows. ``audit_state`` is one row holding the tree size and the right-edge
subtree hashes; appenders lock it, which serialises appends on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models import Base, utcnow

# SQLite only makes INTEGER PRIMARY KEY the rowid (fast appends); elsewhere 64 bits.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One audit log entry: who did what to which subject, when, and the digest of the details.

    ``entry`` is the canonical JSON that is hashed into the Merkle tree; ``payload`` is the
    canonical JSON of the details, bound to the entry by ``payload_sha256``.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(300), index=True)
    payload: Mapped[str] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    @property
    def index(self) -> int:
        """The leaf index of this entry in the Merkle tree (same as ``id``)."""
        return self.id


class AuditNode(Base):
    """The hash of the complete subtree ``idx`` at ``level`` (leaves ``idx*2**level ...``)."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditState(Base):
    """The single row with the tree size and its right-edge ("peak") subtree hashes."""

    __tablename__ = "audit_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    peaks: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditHead(Base):
    """A signed tree head as issued: size, root, time and the log key's Ed25519 signature."""

    __tablename__ = "audit_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
