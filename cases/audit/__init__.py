"""The full-process audit log (全过程记录): append-only, Merkle-tree provable, signed heads.

The narrow interface every package calls::

    from cases import audit
    audit.append(session, "user:alice", "case.file", "case:12", {"reason": "..."})
    audit.verify(session).ok
    audit.count(session)

See ``docs/audit.md`` for the tree (RFC 6962/9162), proofs, heads and case exports.
"""

from __future__ import annotations

from cases.audit.errors import AuditError, LogKeyError, ProofError
from cases.audit.heads import HeadIssuer, LogKey, SignedTreeHead, issue_head, latest_head
from cases.audit.log import (
    AuditWriter,
    append,
    consistency_proof,
    count,
    inclusion_proof,
    root_at,
)
from cases.audit.models import AuditEntry, AuditHead, AuditNode, AuditState
from cases.audit.verify import VerifyReport, verify

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditHead",
    "AuditNode",
    "AuditState",
    "AuditWriter",
    "HeadIssuer",
    "LogKey",
    "LogKeyError",
    "ProofError",
    "SignedTreeHead",
    "VerifyReport",
    "append",
    "consistency_proof",
    "count",
    "inclusion_proof",
    "issue_head",
    "latest_head",
    "root_at",
    "verify",
]
