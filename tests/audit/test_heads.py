"""The log key and signed tree heads: key files, signatures, periodic and on-demand heads."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.audit.errors import LogKeyError, ProofError
from cases.audit.heads import HeadIssuer, all_heads, current_head, verify_head


def test_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-log.key"
    key = audit.LogKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "audit-log.key.pub").read_text().startswith("-----BEGIN PUBLIC")
    again = audit.LogKey.load_or_create(path)
    assert again.public_key == key.public_key
    with pytest.raises(LogKeyError, match="does not exist"):
        audit.LogKey.load(tmp_path / "nope.key")
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(LogKeyError, match="not a PEM private key"):
        audit.LogKey.load(tmp_path / "junk.key")


def test_heads_sign_size_root_and_time(session: Session, log_key: audit.LogKey) -> None:
    empty = audit.issue_head(session, log_key)
    assert empty.tree_size == 0 and empty.root_hash.hex().startswith("e3b0c442")
    for i in range(3):
        audit.append(session, "user:a", "x", f"s:{i}", {})
    head = current_head(session, log_key)
    assert head.tree_size == 3 and head.root_hash == audit.root_at(session)
    assert current_head(session, log_key) == head  # no new head while the log has not grown
    session.commit()
    verify_head(head, log_key.public_key)
    # Each field is covered by the signature.
    for forged in (
        audit.SignedTreeHead(4, head.root_hash, head.timestamp_ms, head.key_id, head.signature),
        audit.SignedTreeHead(3, bytes(32), head.timestamp_ms, head.key_id, head.signature),
        audit.SignedTreeHead(3, head.root_hash, head.timestamp_ms + 1, head.key_id, head.signature),
    ):
        with pytest.raises(ProofError, match="forged"):
            verify_head(forged, log_key.public_key)
    assert [h for _, h in all_heads(session)] == [empty, head]


def test_head_issuer_issues_periodically_while_the_log_grows(
    sessions: sessionmaker[Session], log_key: audit.LogKey
) -> None:
    with HeadIssuer(sessions, log_key, interval_s=0.1) as issuer:
        with sessions() as s:
            audit.append(s, "user:a", "x", "s:1", {})
            s.commit()
        deadline = time.monotonic() + 10
        while issuer.issued < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the log did not grow: no further heads
    assert issuer.error is None and issuer.issued == 1
    with sessions() as s:
        heads = all_heads(s)
        assert [h.tree_size for _, h in heads] == [1]
        assert audit.verify(s, log_key.public_key).ok
