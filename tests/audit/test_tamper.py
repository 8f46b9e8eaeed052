"""Tampering with the stored log is caught and the damaged entry named; proofs hold up.

Every test edits the database directly with SQL, as an administrator with database access
could, then runs the full verification (on SQLite and PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases import audit
from cases.audit import merkle
from cases.audit.canonical import entry_json
from cases.audit.errors import ProofError
from cases.audit.heads import SignedTreeHead, issue_head, latest_head, verify_head
from cases.audit.proofs import (
    consistency_document,
    prove,
    verify_consistency_document,
    verify_proof,
    verify_proof_with_later_head,
)


def _fill(session: Session, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.append(session, f"user:u{i % 3}", "case.step", f"case:{i % 4}", {"i": i})
    session.commit()


def _bad(session: Session, key: audit.LogKey) -> audit.VerifyReport:
    session.expire_all()
    report = audit.verify(session, key.public_key)
    assert not report.ok
    return report


def test_untouched_log_with_heads_verifies(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 5)
    issue_head(session, log_key)
    _fill(session, 8, 5)
    issue_head(session, log_key)
    session.commit()
    report = audit.verify(session, log_key.public_key)
    assert report.ok, report.problems
    assert report.entries == 13 and report.heads == 2


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_entries SET actor = 'user:mallory' WHERE id = 5",
        "UPDATE audit_entries SET payload = replace(payload, '5', '500') WHERE id = 5",
        "UPDATE audit_entries SET subject = 'case:99' WHERE id = 5",
        "UPDATE audit_entries SET entry = replace(entry, 'case.step', 'case.undo') WHERE id = 5",
    ],
)
def test_changed_entry_is_named(session: Session, log_key: audit.LogKey, sql: str) -> None:
    _fill(session, 11)
    issue_head(session, log_key)
    session.commit()
    session.execute(text(sql))
    session.commit()
    report = _bad(session, log_key)
    assert report.first_bad_entry == 5
    assert "first bad entry 5" in report.message


def test_deleted_entry_is_named(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 11)
    issue_head(session, log_key)
    session.commit()
    session.execute(text("DELETE FROM audit_entries WHERE id = 7"))
    session.commit()
    report = _bad(session, log_key)
    assert report.first_bad_entry == 7
    assert "missing" in report.message


def test_deleted_tail_is_caught_by_the_signed_head(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 11)
    issue_head(session, log_key)
    session.commit()
    session.execute(text("DELETE FROM audit_entries WHERE id >= 9"))
    session.execute(text("DELETE FROM audit_nodes WHERE level = 1 AND idx = 4"))
    session.commit()
    report = _bad(session, log_key)
    assert report.first_bad_entry == 9


def test_reordered_entries_are_named(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 11)
    session.execute(text("UPDATE audit_entries SET id = -1 WHERE id = 3"))
    session.execute(text("UPDATE audit_entries SET id = 3 WHERE id = 6"))
    session.execute(text("UPDATE audit_entries SET id = 6 WHERE id = -1"))
    session.commit()
    report = _bad(session, log_key)
    assert report.first_bad_entry == 3
    assert "index" in report.message


def test_inserted_entry_is_named(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 6)
    payload = '{"i":99}'
    digest = hashlib.sha256(payload.encode()).hexdigest()
    forged = entry_json(
        6, "2026-11-27T23:00:00.000000Z", "user:mallory", "case.close", "case:1", digest
    )
    session.execute(
        text(
            "INSERT INTO audit_entries (id, time, actor, action, subject, payload, "
            "payload_sha256, entry, leaf_hash) VALUES (6, :t, 'user:mallory', 'case.close', "
            "'case:1', :p, :d, :e, :h)"
        ),
        {
            "t": "2026-11-27 23:00:00",
            "p": payload,
            "d": digest,
            "e": forged,
            "h": merkle.leaf_hash(forged.encode()),
        },
    )
    session.commit()
    report = _bad(session, log_key)
    assert report.first_bad_entry == 6
    assert "6 entries but 7 rows" in report.message


def test_consistent_rewrite_is_caught_by_signed_heads(
    session: Session, log_key: audit.LogKey
) -> None:
    """Rewrite entry 6 and recompute its digest, leaf and every tree node: only heads know."""
    _fill(session, 4)
    issue_head(session, log_key)
    _fill(session, 8, 4)
    issue_head(session, log_key)
    session.commit()
    row = session.execute(text("SELECT time, entry FROM audit_entries WHERE id = 6")).one()
    old = json.loads(row.entry)
    payload = '{"i":-6}'
    digest = hashlib.sha256(payload.encode()).hexdigest()
    new = entry_json(6, old["time"], old["actor"], old["action"], old["subject"], digest)
    session.execute(
        text(
            "UPDATE audit_entries SET payload = :p, payload_sha256 = :d, entry = :e, "
            "leaf_hash = :h WHERE id = 6"
        ),
        {"p": payload, "d": digest, "e": new, "h": merkle.leaf_hash(new.encode())},
    )
    leaves = [
        bytes(h)
        for h in session.execute(text("SELECT leaf_hash FROM audit_entries ORDER BY id")).scalars()
    ]
    tree = merkle.MerkleTree(leaves)
    for level in range(1, len(tree.levels)):
        for idx in range(tree.size >> level):
            session.execute(
                text("UPDATE audit_nodes SET hash = :h WHERE level = :l AND idx = :i"),
                {"h": tree.node(level, idx), "l": level, "i": idx},
            )
    peaks = [
        tree.node(lv, (tree.size >> lv) - 1)
        for lv in reversed(range(len(tree.levels)))
        if tree.size >> lv & 1
    ]
    session.execute(text("UPDATE audit_state SET peaks = :p"), {"p": b"".join(peaks)})
    session.commit()
    report = _bad(session, log_key)
    # The head at size 4 still matches; the head at size 12 does not: the change is in 4..11.
    assert report.first_bad_entry == 4
    assert "4..11" in report.message


def test_forged_head_signature_is_caught(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 5)
    head = issue_head(session, log_key)
    session.commit()
    forged = bytes([head.signature[0] ^ 1]) + head.signature[1:]
    session.execute(text("UPDATE audit_heads SET signature = :s"), {"s": forged})
    session.commit()
    report = _bad(session, log_key)
    assert any("forged" in p for p in report.problems)
    # A head signed by another key is refused too.
    other = audit.LogKey.generate()
    with pytest.raises(ProofError, match="not the log key"):
        verify_head(
            SignedTreeHead.from_dict(issue_head(session, other).to_dict()), log_key.public_key
        )


def test_old_proof_verifies_against_a_later_head(session: Session, log_key: audit.LogKey) -> None:
    _fill(session, 6)
    proof = prove(session, 2, log_key)
    session.commit()
    proof = json.loads(json.dumps(proof))  # it travels as JSON
    assert verify_proof(proof, log_key.public_key).tree_size == 6
    _fill(session, 20, 6)
    later = issue_head(session, log_key)
    session.commit()
    old = SignedTreeHead.from_dict(proof["signed_head"])
    doc = json.loads(json.dumps(consistency_document(session, old, later)))
    assert verify_proof_with_later_head(proof, doc, log_key.public_key) == later
    # A consistency proof doctored to a different later root is refused.
    bad = json.loads(json.dumps(doc))
    bad["consistency_path"][0] = "00" * 32
    with pytest.raises(ProofError):
        verify_consistency_document(bad, log_key.public_key)
    # A doctored entry or payload in the proof is refused.
    changed = dict(proof, entry=proof["entry"].replace("case.step", "case.skip"))
    with pytest.raises(ProofError):
        verify_proof(changed, log_key.public_key)
    with pytest.raises(ProofError, match="payload"):
        verify_proof(dict(proof, payload='{"i":3}'), log_key.public_key)
    assert latest_head(session) == later


def test_changed_tree_node_is_reported_with_its_entries(
    session: Session, log_key: audit.LogKey
) -> None:
    _fill(session, 11)
    session.execute(
        text("UPDATE audit_nodes SET hash = :h WHERE level = 1 AND idx = 2"), {"h": bytes(32)}
    )
    session.commit()
    report = _bad(session, log_key)
    # A stored node is not an entry: the report names the entries it covers.
    assert report.first_bad_entry == 4
    assert "tree node (1, 2) over entries 4..5" in report.message
    # A proof that passes through that node no longer verifies against the true root.
    entry = session.get(audit.AuditEntry, 6)
    assert entry is not None
    with pytest.raises(ProofError):
        merkle.verify_inclusion(
            6,
            11,
            merkle.leaf_hash(entry.entry.encode()),
            audit.inclusion_proof(session, 6),
            bytes.fromhex(report.root_hash),
        )
