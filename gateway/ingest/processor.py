"""Turning one MQTT message into case-record rows: verify, dedupe, store or dead-letter.

:class:`Processor` is the ingest's logic without any MQTT: it takes (topic, payload) and a
database session in an open transaction, and returns an :class:`Outcome`. The worker
commits and only then acknowledges. Every refusal becomes a dead-letter row with the
reason, an audit entry and a metric, in the same transaction; nothing is dropped silently.

Dead-letter reason codes (the text after the code says what exactly was wrong):
``bad_topic``, ``malformed``, ``topic_mismatch``, ``unknown_device``, ``revoked_device``,
``unknown_key``, ``bad_signature``, ``media_hash_mismatch``, ``media_mismatch``,
``media_missing``, ``replayed_sequence``, ``conflicting_duplicate``, ``rejected``.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cases import audit
from cases.errors import CasesError
from cases.evidence import EvidenceRecord, store_dead_letter, store_evidence
from cases.intake import attach_to_case
from cases.models import Device, Evidence, Media
from gateway.devices import DeviceInfo, get_device
from gateway.ingest.metrics import IngestMetrics
from gateway.media import MediaStore, sniff_content_type
from telemetry.contract import (
    ContractError,
    EvidenceMessage,
    Topic,
    TopicError,
    canonical_json,
    parse_evidence,
    parse_topic,
)
from telemetry.signing import SignatureError, verify

log = logging.getLogger(__name__)

ACTOR = "system:gateway.ingest"

Status = Literal["stored", "duplicate", "media", "ignored", "waiting", "dead_letter"]


@dataclass
class Outcome:
    """What happened to one message. ``waiting``: evidence whose media are not there yet."""

    status: Status
    reason: str | None = None
    evidence_id: str | None = None
    missing_media: list[str] = field(default_factory=list)
    vehicle_id: str | None = None
    sequence: int | None = None

    @property
    def final(self) -> bool:
        """True when the message can be acknowledged (everything but ``waiting``)."""
        return self.status != "waiting"


class Refused(Exception):
    """Internal: a message is refused with a reason code and text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


class Processor:
    """Verifies and records messages; shared by all worker threads (it holds no session).

    ``attach`` opens or joins cases (``cases.intake.attach_to_case``) for new evidence.
    """

    def __init__(
        self,
        media: MediaStore,
        metrics: IngestMetrics | None = None,
        *,
        attach: bool = True,
        attach_distance_m: float = 50.0,
    ) -> None:
        self.media = media
        self.metrics = metrics or IngestMetrics()
        self.attach = attach
        self.attach_distance_m = attach_distance_m
        self._keys: dict[tuple[str, str], DeviceInfo] = {}

    # -- entry point --------------------------------------------------------------------------

    def process(
        self, session: Session, topic: str, payload: bytes, *, final_attempt: bool = False
    ) -> Outcome:
        """Handle one message inside the caller's transaction (which the caller commits).

        ``final_attempt`` turns "media not there yet" into a ``media_missing`` dead letter.
        Database errors (connection lost, lock timeout) propagate: the caller rolls the
        batch back and retries, without acknowledging anything.
        """
        try:
            with session.begin_nested():
                return self._process(session, topic, payload, final_attempt)
        except Refused as refused:
            return self.dead_letter(session, topic, payload, refused.code, refused.text)
        except DBAPIError:
            raise
        except CasesError as exc:
            return self.dead_letter(session, topic, payload, "rejected", str(exc))
        except Exception as exc:  # a bug must not stop the ingest, nor lose the message
            log.exception("ingest: unexpected error on %s", topic)
            text = f"internal error {type(exc).__name__}: {exc}"
            return self.dead_letter(session, topic, payload, "internal_error", text)

    def dead_letter(
        self, session: Session, topic: str, payload: bytes, code: str, text: str
    ) -> Outcome:
        """Record a refused message: dead-letter row, audit entry, metric."""
        reason = f"{code}: {text}"
        dl_id = store_dead_letter(session, topic[:500], payload, reason)
        audit.append(
            session,
            ACTOR,
            "ingest.dead_letter",
            f"dead_letter:{dl_id}",
            {
                "topic": topic[:500],
                "reason": reason[:2000],
                "payload_sha256": hashlib.sha256(payload).hexdigest(),
                "payload_bytes": len(payload),
            },
        )
        self.metrics.dead_letter(code)
        return Outcome("dead_letter", reason=reason)

    # -- the checks ---------------------------------------------------------------------------

    def _process(
        self, session: Session, topic: str, payload: bytes, final_attempt: bool
    ) -> Outcome:
        try:
            parsed = parse_topic(topic)
        except TopicError as exc:
            raise Refused("bad_topic", str(exc)) from exc
        if parsed.kind == "media":
            return self._media(session, parsed, payload)
        if parsed.kind == "evidence":
            return self._evidence(session, parsed, payload, final_attempt)
        # Telemetry, events and status are not part of the case record.
        self.metrics.count("ignored")
        return Outcome("ignored")

    def _device(self, session: Session, vehicle_id: str) -> DeviceInfo:
        row = session.get(Device, vehicle_id)
        if row is None:
            raise Refused(
                "unknown_device",
                f"vehicle {vehicle_id} is not enrolled (patrol device enroll {vehicle_id})",
            )
        cache_key = (row.vehicle_id, row.public_key)
        info = self._keys.get(cache_key)
        if info is None or (row.revoked_at is not None) != info.revoked:
            info = get_device(session, vehicle_id)
            assert info is not None
            self._keys[cache_key] = info
        if info.revoked:
            raise Refused("revoked_device", f"vehicle {vehicle_id}'s key has been revoked")
        return info

    def _media(self, session: Session, topic: Topic, payload: bytes) -> Outcome:
        assert topic.sha256 is not None
        digest = hashlib.sha256(payload).hexdigest()
        if digest != topic.sha256:
            raise Refused(
                "media_hash_mismatch",
                f"blob of {len(payload)} bytes hashes to {digest}, topic says {topic.sha256}",
            )
        self._device(session, topic.vehicle_id)
        stored = self.media.put(payload, expected_sha256=digest)
        self.media.record(session, stored, sniff_content_type(payload))
        self.metrics.count("media")
        return Outcome("media")

    def _evidence(
        self, session: Session, topic: Topic, payload: bytes, final_attempt: bool
    ) -> Outcome:
        try:
            msg = parse_evidence(payload)
        except ContractError as exc:
            raise Refused("malformed", str(exc)) from exc
        if (msg.vehicle_id, msg.site_id) != (topic.vehicle_id, topic.site_id):
            raise Refused(
                "topic_mismatch",
                f"evidence {msg.id} of vehicle {msg.vehicle_id} at site {msg.site_id} came on "
                f"the topic of vehicle {topic.vehicle_id} at site {topic.site_id}",
            )
        device = self._device(session, msg.vehicle_id)
        if msg.key_id is not None and msg.key_id != device.key_id:
            raise Refused(
                "unknown_key",
                f"evidence {msg.id} is signed with key {msg.key_id}; vehicle {msg.vehicle_id} "
                f"is enrolled with key {device.key_id}",
            )
        try:
            verify(msg, device.public_key)
        except SignatureError as exc:
            raise Refused("bad_signature", str(exc)) from exc

        existing = session.get(Evidence, msg.id)
        if existing is not None:
            if existing.signature != msg.signature:
                raise Refused(
                    "conflicting_duplicate",
                    f"evidence {msg.id} is already recorded with different content",
                )
            self.metrics.count("duplicates")
            return Outcome("duplicate", evidence_id=msg.id)
        replayed = session.scalar(
            select(Evidence.id)
            .where(Evidence.vehicle_id == msg.vehicle_id, Evidence.device_seq == msg.sequence)
            .limit(1)
        )
        if replayed is not None:
            raise Refused(
                "replayed_sequence",
                f"vehicle {msg.vehicle_id} sequence {msg.sequence} was already used by "
                f"evidence {replayed}; evidence {msg.id} reuses it",
            )

        missing = self._missing_media(session, msg)
        if missing:
            if final_attempt:
                raise Refused(
                    "media_missing",
                    f"evidence {msg.id}: media {', '.join(missing)} did not arrive in time",
                )
            return Outcome("waiting", evidence_id=msg.id, missing_media=missing)

        new = store_evidence(session, to_record(msg, payload))
        if not new:  # raced with another worker that stored it first
            self.metrics.count("duplicates")
            return Outcome("duplicate", evidence_id=msg.id)
        case_ref: str | None = None
        if self.attach:
            case = attach_to_case(session, msg.id, distance_m=self.attach_distance_m)
            case_ref = str(case.number)
        audit.append(
            session,
            ACTOR,
            "evidence.received",
            f"evidence:{msg.id}",
            {
                "vehicle_id": msg.vehicle_id,
                "sequence": msg.sequence,
                "key_id": device.key_id,
                "signature_verified": True,
                "media_sha256": msg.media_sha256,
                "case": case_ref,
                "canonical_sha256": hashlib.sha256(canonical_json(msg)).hexdigest(),
            },
        )
        self.metrics.count("stored")
        return Outcome(
            "stored", evidence_id=msg.id, vehicle_id=msg.vehicle_id, sequence=msg.sequence
        )

    def _missing_media(self, session: Session, msg: EvidenceMessage) -> list[str]:
        missing: list[str] = []
        for ref in msg.media:
            row = session.get(Media, ref.sha256)
            if row is None or not self.media.has(ref.sha256):
                missing.append(ref.sha256)
            elif row.size != ref.size_bytes:
                raise Refused(
                    "media_mismatch",
                    f"evidence {msg.id}: media {ref.sha256} has {row.size} bytes, the "
                    f"evidence says {ref.size_bytes}",
                )
        return missing


def to_record(msg: EvidenceMessage, payload: bytes) -> EvidenceRecord:
    """The case-record form of a verified evidence message."""
    det = msg.detection
    return EvidenceRecord(
        id=msg.id,
        device_seq=msg.sequence,
        vehicle_id=msg.vehicle_id,
        site_id=msg.site_id,
        mission_id=msg.mission_id,
        sortie_id=msg.sortie_id,
        captured_at=msg.time,
        lat=msg.lat,
        lon=msg.lon,
        alt_agl_m=msg.alt_agl_m,
        alt_amsl_m=msg.alt_amsl_m,
        class_name=det.class_name,
        confidence=det.confidence,
        box_px=list(det.box_px),
        footprint_geojson=det.footprint_geojson,
        media_sha256=msg.media_sha256,
        signature=msg.signature or "",
        raw_json=payload.decode("utf-8"),
    )
