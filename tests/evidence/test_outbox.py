"""Edge outbox: durable, ordered, media before evidence, sequence never reused."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from telemetry.contract import EvidenceMessage, MediaRef
from telemetry.outbox import Outbox, OutboxError
from telemetry.signing import DeviceKey

Factory = Callable[..., EvidenceMessage]


def signed_item(
    evidence: Factory, key: DeviceKey, seq: int, blob: bytes
) -> tuple[EvidenceMessage, dict[str, bytes]]:
    sha = hashlib.sha256(blob).hexdigest()
    msg = evidence(
        id=f"ev-{seq}", sequence=seq, media=(MediaRef(sha256=sha, size_bytes=len(blob)),)
    )
    return key.sign(msg), {sha: blob}


def test_items_survive_reopen_in_order_media_first(tmp_path: Path, evidence: Factory) -> None:
    key = DeviceKey.generate()
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as box:
        for seq in range(3):
            box.add(*signed_item(evidence, key, seq, f"jpeg-{seq}".encode()))
        assert box.next_sequence("uav-1") == 3
    with Outbox(path) as box:
        items = box.pending(limit=100)
        assert [(i.kind, i.sequence) for i in items] == [
            ("media", 0), ("evidence", 0), ("media", 1), ("evidence", 1), ("media", 2),
            ("evidence", 2),
        ]  # fmt: skip
        assert items[0].topic.endswith("/media/" + hashlib.sha256(b"jpeg-0").hexdigest())
        assert items[0].payload == b"jpeg-0"
        assert items[1].topic == "fieldpatrol/v1/site-1/uav-1/evidence"
        box.remove([items[0].row, items[1].row])
        assert box.count() == 4
        assert box.evidence_backlog() == 2
        assert box.pending(after_row=items[3].row)[0].sequence == 2
        assert box.next_sequence("uav-1") == 3  # not reset by removing sent items


def test_refuses_reused_sequence_missing_or_altered_media_unsigned(
    tmp_path: Path, evidence: Factory
) -> None:
    key = DeviceKey.generate()
    with Outbox(tmp_path / "o.sqlite") as box:
        box.add(*signed_item(evidence, key, 5, b"a"))
        with pytest.raises(OutboxError, match="sequence 5"):
            box.add(*signed_item(evidence, key, 5, b"b"))
        msg, media = signed_item(evidence, key, 6, b"c")
        with pytest.raises(OutboxError, match="not given"):
            box.add(msg, {})
        with pytest.raises(OutboxError, match="hash to"):
            box.add(msg, {next(iter(media)): b"tampered"})
        with pytest.raises(OutboxError, match="not signed"):
            box.add(evidence(sequence=7), {})
        # nothing of the refused items was written
        assert box.count() == 2
        assert box.next_sequence("uav-1") == 6
