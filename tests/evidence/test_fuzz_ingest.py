"""Fuzzing the ingest with malformed payloads: never a crash, always a dead letter with reason."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.models import DeadLetter, Evidence
from gateway.ingest import IngestMetrics, Processor
from gateway.media import MediaStore
from telemetry.contract import EvidenceMessage
from telemetry.signing import DeviceKey

Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]
CODES = {
    "bad_topic", "malformed", "topic_mismatch", "unknown_device", "revoked_device",
    "unknown_key", "bad_signature", "media_hash_mismatch", "media_mismatch", "media_missing",
    "replayed_sequence", "conflicting_duplicate", "rejected",
}  # fmt: skip
EVIDENCE_TOPIC = "fieldpatrol/v1/site-1/uav-1/evidence"
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def check_dead_lettered(
    processor: Processor, sessions: sessionmaker[Session], topic: str, payload: bytes
) -> None:
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(DeadLetter))
        outcome = processor.process(session, topic, payload, final_attempt=True)
        session.commit()
        assert outcome.status == "dead_letter", (outcome, payload[:200])
        assert outcome.reason is not None
        code, _, text = outcome.reason.partition(": ")
        assert code in CODES and text, outcome.reason
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == (before or 0) + 1
        last = session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc())).first()
        assert last is not None and last.payload == payload and last.reason == outcome.reason
        assert session.scalar(select(func.count()).select_from(Evidence)) == 0


@FUZZ
@given(payload=st.binary(max_size=300))
def test_random_bytes(
    payload: bytes, sessions: sessionmaker[Session], device_key: DeviceKey, tmp_path: Path
) -> None:
    processor = Processor(MediaStore(tmp_path / "media"), IngestMetrics())
    check_dead_lettered(processor, sessions, EVIDENCE_TOPIC, payload)


@FUZZ
@given(doc=st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_random_json_objects(
    doc: dict[str, Any], sessions: sessionmaker[Session], device_key: DeviceKey, tmp_path: Path
) -> None:
    processor = Processor(MediaStore(tmp_path / "media"), IngestMetrics())
    check_dead_lettered(processor, sessions, EVIDENCE_TOPIC, json.dumps(doc).encode())


@FUZZ
@given(data=st.data())
def test_mutated_signed_messages(
    data: st.DataObject,
    sessions: sessionmaker[Session],
    device_key: DeviceKey,
    item: Item,
    tmp_path: Path,
) -> None:
    """Change, drop or retype one field of a correctly signed message."""
    processor = Processor(MediaStore(tmp_path / "media"), IngestMetrics())
    msg, _ = item(device_key, 1)
    doc = json.loads(msg.to_json())
    paths = (
        [(k,) for k in doc if k != "signature"]
        + [("pose", k) for k in doc["pose"]]
        + [("detection", k) for k in doc["detection"]]
    )
    path = data.draw(st.sampled_from(paths))
    target = doc
    for key in path[:-1]:
        target = target[key]
    action = data.draw(st.sampled_from(["drop", "replace"]))
    if action == "drop":
        del target[path[-1]]
    else:
        new = data.draw(json_values.filter(lambda v, old=target[path[-1]]: v != old))
        target[path[-1]] = new
    check_dead_lettered(processor, sessions, EVIDENCE_TOPIC, json.dumps(doc).encode())


@FUZZ
@given(topic=st.text(max_size=80), payload=st.binary(max_size=50))
def test_random_topics(
    topic: str, payload: bytes, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    processor = Processor(MediaStore(tmp_path / "media"), IngestMetrics())
    with sessions() as session:
        outcome = processor.process(session, topic, payload, final_attempt=True)
        session.commit()
    # status/telemetry/event topics are legitimately ignored; nothing else may pass
    assert outcome.status in ("dead_letter", "ignored"), outcome
    if outcome.status == "dead_letter":
        assert outcome.reason and outcome.reason.split(":")[0] in CODES
