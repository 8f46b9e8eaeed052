"""The checks an ingest batch does before its transaction (``Processor.precheck``).

The worker parses, verifies signatures and writes media files before it opens the write
transaction, with each vehicle's key as the last transaction found it. The key may have
been revoked or replaced in between: the transaction must then decide as if there had been
no precheck. And nothing may be written for a vehicle the gateway has not seen enrolled.
"""

import base64
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.audit import AuditWriter
from cases.models import DeadLetter, Evidence
from gateway.devices import register_device, revoke_device
from gateway.ingest import Processor
from telemetry.contract import EvidenceMessage, canonical_json, topic_for
from telemetry.signing import DeviceKey

Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]
Sessions = sessionmaker[Session]


def wire(msg: EvidenceMessage, media: dict[str, bytes]) -> list[tuple[str, bytes, bool]]:
    out = [
        (topic_for(msg.site_id, msg.vehicle_id, "media", sha256=s), b, False)
        for s, b in media.items()
    ]
    out.append((topic_for(msg.site_id, msg.vehicle_id, "evidence"), msg.to_json(), False))
    return out


def commit(
    processor: Processor,
    sessions: Sessions,
    messages: list[tuple[str, bytes, bool]],
    pre: object | None = None,
) -> list[str]:
    """One batch as the worker runs it; ``pre`` from an earlier precheck, else a fresh one."""
    checked = processor.precheck(messages) if pre is None else pre
    with sessions() as session, AuditWriter(session) as writer:
        out = processor.process_batch(session, messages, writer=writer, pre=checked)  # type: ignore[arg-type]
        session.commit()
    return [o.status for o in out]


def reasons(sessions: Sessions) -> list[str]:
    with sessions() as session:
        rows = session.scalars(select(DeadLetter).order_by(DeadLetter.id))
        return [d.reason.split(":", 1)[0] for d in rows]


def test_precheck_does_the_work_outside_the_transaction(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    first, media1 = item(device_key, 1)
    # A vehicle not yet seen enrolled: parsed, but no file written and nothing verified.
    cold = processor.precheck(wire(first, media1))
    assert cold[0] is not None and cold[0].stored is None
    assert cold[1] is not None and cold[1].verified_key is None
    assert not processor.media.has(first.media_sha256[0])
    assert commit(processor, sessions, wire(first, media1), cold) == ["media", "stored"]
    # Seen enrolled now: the next item's file is written and its signature verified.
    second, media2 = item(device_key, 2)
    warm = processor.precheck(wire(second, media2))
    assert processor.media.has(second.media_sha256[0])
    assert warm[1] is not None and warm[1].verified_key == device_key.public_key_bytes()
    assert commit(processor, sessions, wire(second, media2), warm) == ["media", "stored"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evidence)) == 2
        assert audit.verify(session).ok


def test_revoked_between_precheck_and_transaction(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    commit(processor, sessions, wire(*item(device_key, 1)))
    messages = wire(*item(device_key, 2))
    pre = processor.precheck(messages)  # verified with the key as it was
    with sessions() as session:
        revoke_device(session, "uav-1")
        session.commit()
    assert commit(processor, sessions, messages, pre) == ["dead_letter", "dead_letter"]
    assert reasons(sessions) == ["revoked_device", "revoked_device"]
    # and the next precheck no longer writes files for the revoked vehicle
    third, media3 = item(device_key, 3)
    assert processor.precheck(wire(third, media3))[0].stored is None  # type: ignore[union-attr]
    assert not processor.media.has(third.media_sha256[0])


def test_key_replaced_between_precheck_and_transaction(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    commit(processor, sessions, wire(*item(device_key, 1)))
    old_messages = wire(*item(device_key, 2))
    # Signed by the old key without naming it (key_id is optional): only the signature
    # check itself can tell that the key changed.
    anonymous, media = item(device_key, 4)
    unnamed = anonymous.model_copy(update={"key_id": None, "signature": None})
    signature = device_key.sign_bytes(canonical_json(unnamed))
    unnamed = unnamed.model_copy(update={"signature": base64.b64encode(signature).decode()})
    old_messages += wire(unnamed, media)
    pre = processor.precheck(old_messages)  # verifies with the old key
    assert all(p is not None and p.verified_key for p in pre[1::2])
    new_key = DeviceKey.generate()
    with sessions() as session:
        register_device(session, "uav-1", new_key.public_key_bytes(), replace=True)
        session.commit()
    statuses = commit(processor, sessions, old_messages, pre)
    assert statuses == ["media", "dead_letter", "media", "dead_letter"]
    assert reasons(sessions) == ["unknown_key", "bad_signature"]
    # Prechecked with the old key, signed with the new one: the transaction verifies it.
    new_messages = wire(*item(new_key, 3))
    stale = processor.precheck(old_messages)
    assert commit(processor, sessions, new_messages, processor.precheck(new_messages)) == [
        "media",
        "stored",
    ]
    assert stale[1] is not None and stale[1].verified_key is None  # key_id no longer matches


def test_refusals_keep_their_reasons_after_a_precheck(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    good, media = item(device_key, 1)
    commit(processor, sessions, wire(good, media))
    evidence_topic = wire(good, {})[0][0]
    forged, _ = item(DeviceKey.generate(), 2)
    unsigned = good.model_copy(update={"id": "ev-x", "sequence": 3, "signature": None})
    altered = good.model_copy(update={"id": "ev-y"})
    ghost, ghost_media = item(DeviceKey.generate(), 1, vehicle_id="uav-9")
    cases = [
        ("fieldpatrol/v1/site-1/uav-1/bogus", b"{}", "bad_topic"),
        (evidence_topic, b"not json", "malformed"),
        (wire(good, media)[0][0], b"other bytes", "media_hash_mismatch"),
        (topic_for("site-1", "uav-2", "evidence"), good.to_json(), "topic_mismatch"),
        (evidence_topic, forged.to_json(), "unknown_key"),
        (evidence_topic, unsigned.to_json(), "bad_signature"),
        (evidence_topic, altered.to_json(), "bad_signature"),
        (wire(ghost, ghost_media)[0][0], next(iter(ghost_media.values())), "unknown_device"),
        (wire(ghost, {})[0][0], ghost.to_json(), "unknown_device"),
    ]
    statuses = commit(processor, sessions, [(t, p, False) for t, p, _ in cases])
    assert statuses == ["dead_letter"] * len(cases)
    assert reasons(sessions) == [code for _, _, code in cases]
    assert not processor.media.has(ghost.media_sha256[0])  # no file for an unknown vehicle
