"""Self-contained proof documents that verify offline: inclusion and consistency.

``prove`` returns a JSON-ready document with the entry text, its payload, the inclusion
path and the signed tree head it proves against; ``verify_proof`` checks such a document
with nothing but the document and the log's public key. A proof issued against an older
head is carried to a newer one with a consistency proof (``verify_proof_with_later_head``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from cases.audit import merkle
from cases.audit.errors import AuditError, ProofError
from cases.audit.heads import LogKey, SignedTreeHead, current_head, verify_head
from cases.audit.log import consistency_proof, inclusion_proof
from cases.audit.models import AuditEntry

PROOF_FORMAT = "fieldpatrol-audit-inclusion/1"
CONSISTENCY_FORMAT = "fieldpatrol-audit-consistency/1"


def entry_proof(session: Session, entry: AuditEntry, head: SignedTreeHead) -> dict[str, Any]:
    """The inclusion proof document of ``entry`` against ``head`` (which must cover it)."""
    if entry.id >= head.tree_size:
        raise AuditError(f"entry {entry.id} is newer than the signed head (size {head.tree_size})")
    path = inclusion_proof(session, entry.id, head.tree_size)
    return {
        "format": PROOF_FORMAT,
        "index": entry.id,
        "entry": entry.entry,
        "payload": entry.payload,
        "inclusion_path": [p.hex() for p in path],
        "signed_head": head.to_dict(),
    }


def prove(session: Session, index: int, key: LogKey) -> dict[str, Any]:
    """An offline-verifiable proof that entry ``index`` is in the log (issues a head if stale).

    The caller commits the session so a newly issued head is kept.
    """
    entry = session.get(AuditEntry, index)
    if entry is None:
        raise AuditError(f"entry {index} does not exist: give an id between 0 and the log size - 1")
    head = current_head(session, key)
    doc = entry_proof(session, entry, head)
    doc["log_public_key"] = key.public_key.hex()
    return doc


def _public_key(doc: dict[str, Any], public_key: bytes | None) -> bytes:
    if public_key is not None:
        return public_key
    try:
        return bytes.fromhex(doc["log_public_key"])
    except (KeyError, ValueError) as exc:
        raise ProofError("no log public key given and none in the proof document") from exc


def verify_proof(doc: dict[str, Any], public_key: bytes | None = None) -> SignedTreeHead:
    """Check an inclusion proof document; returns the signed head it proves against.

    ``public_key`` is the log's raw Ed25519 key as you trust it; without it the key in the
    document is used, which proves integrity but not who signed.
    """
    if doc.get("format") != PROOF_FORMAT:
        raise ProofError(f"not an audit inclusion proof (format {doc.get('format')!r})")
    head = SignedTreeHead.from_dict(doc.get("signed_head") or {})
    verify_head(head, _public_key(doc, public_key))
    try:
        index = int(doc["index"])
        text = str(doc["entry"])
        entry = json.loads(text)
        path = [bytes.fromhex(p) for p in doc["inclusion_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"inclusion proof document is malformed: {exc!r}") from exc
    if entry.get("index") != index:
        raise ProofError(f"entry text says index {entry.get('index')}, the proof says {index}")
    payload = doc.get("payload")
    if payload is not None:
        digest = hashlib.sha256(str(payload).encode("utf-8")).hexdigest()
        if digest != entry.get("payload_sha256"):
            raise ProofError(f"payload of entry {index} does not match the digest in the entry")
    merkle.verify_inclusion(
        index, head.tree_size, merkle.leaf_hash(text.encode("utf-8")), path, head.root_hash
    )
    return head


def consistency_document(
    session: Session, old: SignedTreeHead, new: SignedTreeHead
) -> dict[str, Any]:
    """A document proving that head ``new`` extends head ``old``."""
    if old.tree_size > new.tree_size:
        raise AuditError(f"head of size {old.tree_size} is newer than head of size {new.tree_size}")
    path = consistency_proof(session, old.tree_size, new.tree_size)
    return {
        "format": CONSISTENCY_FORMAT,
        "from_head": old.to_dict(),
        "to_head": new.to_dict(),
        "consistency_path": [p.hex() for p in path],
    }


def verify_consistency_document(
    doc: dict[str, Any], public_key: bytes
) -> tuple[SignedTreeHead, SignedTreeHead]:
    """Check both heads' signatures and that the later one extends the earlier one."""
    if doc.get("format") != CONSISTENCY_FORMAT:
        raise ProofError(f"not an audit consistency proof (format {doc.get('format')!r})")
    old = SignedTreeHead.from_dict(doc.get("from_head") or {})
    new = SignedTreeHead.from_dict(doc.get("to_head") or {})
    verify_head(old, public_key)
    verify_head(new, public_key)
    try:
        path = [bytes.fromhex(p) for p in doc["consistency_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"consistency proof document is malformed: {exc!r}") from exc
    merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, path)
    return old, new


def verify_proof_with_later_head(
    proof_doc: dict[str, Any], consistency_doc: dict[str, Any], public_key: bytes
) -> SignedTreeHead:
    """An old inclusion proof plus a consistency proof: the entry is in the later head too."""
    proven = verify_proof(proof_doc, public_key)
    old, new = verify_consistency_document(consistency_doc, public_key)
    if old != proven:
        raise ProofError("the consistency proof does not start at the head the entry was proven in")
    return new
