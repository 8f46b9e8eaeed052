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

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cases import audit
from cases.audit import AuditWriter
from cases.errors import CasesError
from cases.evidence import (
    EvidenceRecord,
    recorded_evidence,
    recorded_media,
    store_dead_letter,
    store_evidence,
    store_evidence_many,
    validate_record,
)
from cases.intake import attach_many, attach_to_case
from cases.models import Media
from gateway.devices import DeviceInfo, enrolled_key, get_device
from gateway.ingest.metrics import IngestMetrics
from gateway.media import MediaStore, StoredMedia, sniff_content_type
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

#: Errors that say "another transaction got there first / the database is unavailable":
#: the whole batch is rolled back and tried again, never dead-lettered. StaleDataError is
#: SQLAlchemy's optimistic-locking conflict (two workers updating the same case at once).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (DBAPIError, StaleDataError)

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


class UnexpectedError(Exception):
    """Internal: the fast path met an error that needs the careful, per-message path."""


@dataclass
class Precheck:
    """What :meth:`Processor.precheck` found out about one message without the database.

    Only facts that no database state can change: the parsed topic and message, a media
    blob's digest and its file (written when the vehicle was last seen enrolled), and the
    public key the signature verified against. The transaction still checks everything that
    depends on the case record (device enrolled and not revoked, key, duplicates, replays);
    it uses these results only where they still apply (the same key) and otherwise does
    the work itself, so a precheck never changes an outcome.
    """

    topic: Topic
    parsed: EvidenceMessage | ContractError | None = None
    digest: str | None = None
    stored: StoredMedia | None = None
    canonical: bytes | None = None
    verified_key: bytes | None = None


@dataclass
class _Pending:
    """New evidence that passed every check, stored with the rest of the batch at its end."""

    msg: EvidenceMessage
    record: EvidenceRecord
    key_id: str
    canonical_sha256: str
    outcome: Outcome


@dataclass
class _Batch:
    """What one batch transaction knows, so each message needs few queries."""

    writer: AuditWriter | None
    bulk: bool = False  # new evidence goes to ``pending``, stored set-based at the end
    pending: list[_Pending] = field(default_factory=list)
    devices: dict[str, tuple[str, bool] | None] = field(default_factory=dict)  # key, revoked
    media: set[str] = field(default_factory=set)  # recorded and on disk
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each blob in ``media``
    existing: dict[str, str] = field(default_factory=dict)  # evidence id -> signature
    sequences: dict[tuple[str, int], str] = field(default_factory=dict)  # -> evidence id
    parsed: dict[int, EvidenceMessage | ContractError] = field(default_factory=dict)
    new_media: list[dict[str, object]] = field(default_factory=list)  # rows to insert
    pre: list[Precheck | None] = field(default_factory=list)  # by message index

    def precheck(self, index: int) -> Precheck | None:
        return self.pre[index] if index < len(self.pre) else None


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
        # Each vehicle's key as the last transaction found it enrolled and not revoked:
        # what precheck() verifies signatures with, before a transaction has confirmed it.
        self._enrolled: dict[str, DeviceInfo] = {}

    # -- entry points -------------------------------------------------------------------------

    def process(
        self, session: Session, topic: str, payload: bytes, *, final_attempt: bool = False
    ) -> Outcome:
        """Handle one message inside the caller's transaction (which the caller commits).

        ``final_attempt`` turns "media not there yet" into a ``media_missing`` dead letter.
        Transient errors (connection lost, lock timeout, deadlock, a concurrent update of the
        same case; see ``TRANSIENT_ERRORS``) propagate: the caller rolls back and retries,
        without acknowledging anything.
        """
        return self.process_batch(session, [(topic, payload, final_attempt)], careful=True)[0]

    def process_batch(
        self,
        session: Session,
        messages: list[tuple[str, bytes, bool]],
        *,
        careful: bool = False,
        writer: AuditWriter | None = None,
        pre: list[Precheck | None] | None = None,
    ) -> list[Outcome]:
        """Handle ``(topic, payload, final_attempt)`` messages in the caller's transaction.

        ``pre``: :meth:`precheck` of the same messages, done before the transaction began
        (so that the CPU-heavy checks of concurrent workers overlap instead of waiting for
        the database's write lock).

        The fast path (``careful=False``) checks every message first, then stores the new
        evidence of the whole batch set-based (``cases.evidence.store_evidence_many``,
        ``cases.intake.attach_many``, audit entries into ``writer``), without savepoints.
        If something fails in an unexpected way it raises :class:`UnexpectedError`, and the
        caller rolls back and runs the batch again with ``careful=True``: each message in
        its own savepoint and stored item by item, an unexpected failure dead-lettered as
        ``internal_error`` instead of stopping the ingest. Refusals (bad signature, ...)
        never need a rollback: they are decided before anything is written.
        """
        batch = self._prepare(session, messages, writer, pre or [])
        if careful:
            return self._one_by_one(session, batch, messages)
        batch.bulk = True
        out: list[Outcome] = []
        try:
            for index, (topic, payload, final) in enumerate(messages):
                out.append(self._one(session, batch, index, topic, payload, final))
            self._store_pending(session, batch)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            raise UnexpectedError(f"{type(exc).__name__}: {exc}") from exc
        return out

    def _one_by_one(
        self, session: Session, batch: _Batch, messages: list[tuple[str, bytes, bool]]
    ) -> list[Outcome]:
        """The careful path: each message in its own savepoint, stored item by item."""
        out: list[Outcome] = []
        for index, (topic, payload, final) in enumerate(messages):
            undo = (dict(batch.existing), dict(batch.sequences), set(batch.media))
            try:
                with session.begin_nested():
                    out.append(self._one(session, batch, index, topic, payload, final))
            except TRANSIENT_ERRORS:
                raise
            except CasesError as exc:
                batch.existing, batch.sequences, batch.media = undo
                out.append(self.dead_letter(session, topic, payload, "rejected", str(exc), batch))
            except Exception as exc:  # a bug must not stop the ingest, nor lose the message
                batch.existing, batch.sequences, batch.media = undo
                log.exception("ingest: unexpected error on %s", topic)
                text = f"internal error {type(exc).__name__}: {exc}"
                out.append(self.dead_letter(session, topic, payload, "internal_error", text, batch))
        if batch.new_media:
            session.execute(insert(Media), batch.new_media)
        return out

    def _store_pending(self, session: Session, batch: _Batch) -> None:
        """Media rows, then the batch's new evidence: one insert, one intake, one audit run."""
        if batch.new_media:
            session.execute(insert(Media), batch.new_media)
            batch.new_media = []
        if not batch.pending:
            return
        if batch.writer is not None:
            # Concurrent workers (PostgreSQL) write one batch at a time from here on: no
            # deadlock over the cases they both update, no race for case numbers.
            batch.writer.lock()
        new = store_evidence_many(session, [p.record for p in batch.pending])
        stored: list[_Pending] = []
        for p in batch.pending:
            if p.record.id in new:
                stored.append(p)
            else:  # raced with another worker that stored it first
                p.outcome.status = "duplicate"
                self.metrics.count("duplicates")
        case_refs: list[str | None] = [None] * len(stored)
        if self.attach and stored:
            cases = attach_many(
                session,
                [p.record for p in stored],
                distance_m=self.attach_distance_m,
                new_evidence=True,  # just inserted by store_evidence_many: no links yet
            )
            case_refs = [str(c.number) for c in cases]
        for p, case_ref in zip(stored, case_refs, strict=True):
            self._audit(
                session,
                batch,
                "evidence.received",
                f"evidence:{p.msg.id}",
                self._received_payload(p.msg, p.key_id, case_ref, p.canonical_sha256),
            )
        self.metrics.count("stored", len(stored))
        batch.pending = []

    @staticmethod
    def _received_payload(
        msg: EvidenceMessage, key_id: str, case_ref: str | None, canonical_sha256: str
    ) -> dict[str, object]:
        return {
            "vehicle_id": msg.vehicle_id,
            "sequence": msg.sequence,
            "key_id": key_id,
            "signature_verified": True,
            "media_sha256": msg.media_sha256,
            "case": case_ref,
            "canonical_sha256": canonical_sha256,
        }

    def dead_letter(
        self,
        session: Session,
        topic: str,
        payload: bytes,
        code: str,
        text: str,
        batch: _Batch | None = None,
    ) -> Outcome:
        """Record a refused message: dead-letter row, audit entry, metric."""
        reason = f"{code}: {text}"
        dl_id = store_dead_letter(session, topic[:500], payload, reason)
        self._audit(
            session,
            batch,
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

    # -- before the transaction -------------------------------------------------------------

    def precheck(self, messages: list[tuple[str, bytes, bool]]) -> list[Precheck | None]:
        """The checks of ``messages`` that need no database, for :meth:`process_batch`.

        Run it outside any transaction: topics and evidence parsed, canonical JSON built,
        signatures verified with the key each vehicle was last seen enrolled with, media
        hashed and written to the store (files only, for vehicles last seen enrolled).
        Anything that fails here is simply left for the transaction to do again, so that
        refusals keep their reasons.
        """
        out: list[Precheck | None] = []
        for topic, payload, _final in messages:
            try:
                out.append(self._precheck_one(topic, payload))
            except Exception:  # e.g. a full disk: the transaction meets it and decides
                log.debug("ingest: precheck of %s failed", topic, exc_info=True)
                out.append(None)
        return out

    def _precheck_one(self, topic: str, payload: bytes) -> Precheck | None:
        try:
            parsed = parse_topic(topic)
        except TopicError:
            return None
        pre = Precheck(parsed)
        device = self._enrolled.get(parsed.vehicle_id)
        if parsed.kind == "media":
            pre.digest = hashlib.sha256(payload).hexdigest()
            if device is not None and pre.digest == parsed.sha256:
                pre.stored = self.media.put(payload, expected_sha256=pre.digest)
        elif parsed.kind == "evidence":
            try:
                msg = parse_evidence(payload)
            except ContractError as exc:
                pre.parsed = exc
                return pre
            pre.parsed = msg
            if (
                device is not None
                and (msg.vehicle_id, msg.site_id) == (parsed.vehicle_id, parsed.site_id)
                and msg.key_id in (None, device.key_id)
            ):
                pre.canonical = canonical_json(msg)
                try:
                    verify(msg, device.public_key, pre.canonical)
                except SignatureError:
                    return pre  # the transaction refuses it, with the reason
                pre.verified_key = device.public_key
        return pre

    # -- batch preparation --------------------------------------------------------------------

    def _prepare(
        self,
        session: Session,
        messages: list[tuple[str, bytes, bool]],
        writer: AuditWriter | None,
        pre: list[Precheck | None],
    ) -> _Batch:
        batch = _Batch(writer, pre=pre)
        shas: set[str] = set()
        for index, (topic, payload, _final) in enumerate(messages):
            if "/media/" in topic:
                shas.add(topic.rsplit("/", 1)[-1])
            elif topic.endswith("/evidence"):
                checked = batch.precheck(index)
                if checked is not None and checked.parsed is not None:
                    batch.parsed[index] = checked.parsed
                    if isinstance(checked.parsed, EvidenceMessage):
                        shas.update(checked.parsed.media_sha256)
                    continue
                try:
                    msg = parse_evidence(payload)
                except ContractError as exc:
                    batch.parsed[index] = exc
                    continue
                batch.parsed[index] = msg
                shas.update(msg.media_sha256)
        found = [m for m in batch.parsed.values() if isinstance(m, EvidenceMessage)]
        if found:
            # One query for both: the ids already recorded (duplicates) and the sequence
            # numbers already used (replays).
            ids = {m.id for m in found}
            vehicles = {m.vehicle_id for m in found}
            seqs = {m.sequence for m in found}
            for eid, sig, vehicle, seq in recorded_evidence(session, ids, vehicles, seqs):
                if eid in ids:
                    batch.existing[eid] = sig
                if vehicle in vehicles and seq in seqs:
                    batch.sequences.setdefault((vehicle, seq), eid)
        if shas:
            for sha, size in recorded_media(session, shas).items():
                if self.media.has(sha):
                    batch.media.add(sha)
                    batch.sizes[sha] = size
        return batch

    def _audit(
        self,
        session: Session,
        batch: _Batch | None,
        action: str,
        subject: str,
        payload: dict[str, object],
    ) -> None:
        if batch is not None and batch.writer is not None:
            batch.writer.append(ACTOR, action, subject, payload)
        else:
            audit.append(session, ACTOR, action, subject, payload)

    # -- the checks ---------------------------------------------------------------------------

    def _one(
        self, session: Session, batch: _Batch, index: int, topic: str, payload: bytes, final: bool
    ) -> Outcome:
        try:
            return self._dispatch(session, batch, index, topic, payload, final)
        except Refused as refused:
            return self.dead_letter(session, topic, payload, refused.code, refused.text, batch)

    def _dispatch(
        self, session: Session, batch: _Batch, index: int, topic: str, payload: bytes, final: bool
    ) -> Outcome:
        checked = batch.precheck(index)
        if checked is not None:
            parsed = checked.topic
        else:
            try:
                parsed = parse_topic(topic)
            except TopicError as exc:
                raise Refused("bad_topic", str(exc)) from exc
        if parsed.kind == "media":
            return self._media(session, batch, parsed, payload, checked)
        if parsed.kind == "evidence":
            return self._evidence(session, batch, index, parsed, payload, final)
        # Telemetry, events and status are not part of the case record.
        self.metrics.count("ignored")
        return Outcome("ignored")

    def _device(self, session: Session, batch: _Batch, vehicle_id: str) -> DeviceInfo:
        if vehicle_id not in batch.devices:
            batch.devices[vehicle_id] = enrolled_key(session, vehicle_id)
        row = batch.devices[vehicle_id]
        if row is None:
            self._enrolled.pop(vehicle_id, None)
            raise Refused(
                "unknown_device",
                f"vehicle {vehicle_id} is not enrolled (patrol device enroll {vehicle_id})",
            )
        public_key, revoked = row
        cache_key = (vehicle_id, public_key)
        info = self._keys.get(cache_key)
        if info is None or revoked != info.revoked:
            info = get_device(session, vehicle_id)
            assert info is not None
            self._keys[cache_key] = info
        if info.revoked:
            self._enrolled.pop(vehicle_id, None)
            raise Refused("revoked_device", f"vehicle {vehicle_id}'s key has been revoked")
        self._enrolled[vehicle_id] = info
        return info

    def _media(
        self,
        session: Session,
        batch: _Batch,
        topic: Topic,
        payload: bytes,
        checked: Precheck | None = None,
    ) -> Outcome:
        assert topic.sha256 is not None
        if checked is not None and checked.digest is not None:
            digest = checked.digest
        else:
            digest = hashlib.sha256(payload).hexdigest()
        if digest != topic.sha256:
            raise Refused(
                "media_hash_mismatch",
                f"blob of {len(payload)} bytes hashes to {digest}, topic says {topic.sha256}",
            )
        self._device(session, batch, topic.vehicle_id)
        if digest not in batch.media:
            if checked is not None and checked.stored is not None:
                stored = checked.stored  # written before the transaction
            else:
                stored = self.media.put(payload, expected_sha256=digest)
            # Rows are inserted together at the end of the batch (one executemany).
            batch.new_media.append(self.media.row(stored, sniff_content_type(payload)))
            batch.media.add(digest)
            batch.sizes[digest] = len(payload)
        self.metrics.count("media")
        return Outcome("media")

    def _evidence(
        self,
        session: Session,
        batch: _Batch,
        index: int,
        topic: Topic,
        payload: bytes,
        final_attempt: bool,
    ) -> Outcome:
        parsed = batch.parsed.get(index)
        if parsed is None:
            try:
                parsed = parse_evidence(payload)
            except ContractError as exc:
                parsed = exc
        if isinstance(parsed, ContractError):
            raise Refused("malformed", str(parsed))
        msg = parsed
        if (msg.vehicle_id, msg.site_id) != (topic.vehicle_id, topic.site_id):
            raise Refused(
                "topic_mismatch",
                f"evidence {msg.id} of vehicle {msg.vehicle_id} at site {msg.site_id} came on "
                f"the topic of vehicle {topic.vehicle_id} at site {topic.site_id}",
            )
        device = self._device(session, batch, msg.vehicle_id)
        if msg.key_id is not None and msg.key_id != device.key_id:
            raise Refused(
                "unknown_key",
                f"evidence {msg.id} is signed with key {msg.key_id}; vehicle {msg.vehicle_id} "
                f"is enrolled with key {device.key_id}",
            )
        checked = batch.precheck(index)
        if (
            checked is not None
            and checked.canonical is not None
            and checked.verified_key == device.public_key
        ):
            canonical = checked.canonical  # verified before the transaction, with this key
        else:
            canonical = canonical_json(msg)  # what the signature covers; hashed for the audit
            try:
                verify(msg, device.public_key, canonical)
            except SignatureError as exc:
                raise Refused("bad_signature", str(exc)) from exc

        if msg.id in batch.existing:
            if batch.existing[msg.id] != msg.signature:
                raise Refused(
                    "conflicting_duplicate",
                    f"evidence {msg.id} is already recorded with different content",
                )
            self.metrics.count("duplicates")
            return Outcome("duplicate", evidence_id=msg.id)
        used_by = batch.sequences.get((msg.vehicle_id, msg.sequence))
        if used_by is not None and used_by != msg.id:
            raise Refused(
                "replayed_sequence",
                f"vehicle {msg.vehicle_id} sequence {msg.sequence} was already used by "
                f"evidence {used_by}; evidence {msg.id} reuses it",
            )

        missing = self._missing_media(session, batch, msg)
        if missing:
            if final_attempt:
                raise Refused(
                    "media_missing",
                    f"evidence {msg.id}: media {', '.join(missing)} did not arrive in time",
                )
            return Outcome("waiting", evidence_id=msg.id, missing_media=missing)

        record = to_record(msg, payload)
        if batch.bulk:
            try:
                validate_record(record)
            except CasesError as exc:
                raise Refused("rejected", str(exc)) from exc
            batch.existing[msg.id] = msg.signature or ""
            batch.sequences[(msg.vehicle_id, msg.sequence)] = msg.id
            outcome = Outcome(
                "stored", evidence_id=msg.id, vehicle_id=msg.vehicle_id, sequence=msg.sequence
            )
            digest = hashlib.sha256(canonical).hexdigest()
            batch.pending.append(_Pending(msg, record, device.key_id, digest, outcome))
            return outcome

        new = store_evidence(session, record)
        batch.existing[msg.id] = msg.signature or ""
        batch.sequences[(msg.vehicle_id, msg.sequence)] = msg.id
        if not new:  # raced with another worker that stored it first
            self.metrics.count("duplicates")
            return Outcome("duplicate", evidence_id=msg.id)
        case_ref: str | None = None
        if self.attach:
            case = attach_to_case(session, msg.id, distance_m=self.attach_distance_m)
            case_ref = str(case.number)
        digest = hashlib.sha256(canonical).hexdigest()
        self._audit(
            session,
            batch,
            "evidence.received",
            f"evidence:{msg.id}",
            self._received_payload(msg, device.key_id, case_ref, digest),
        )
        self.metrics.count("stored")
        return Outcome(
            "stored", evidence_id=msg.id, vehicle_id=msg.vehicle_id, sequence=msg.sequence
        )

    def _missing_media(self, session: Session, batch: _Batch, msg: EvidenceMessage) -> list[str]:
        missing: list[str] = []
        for ref in msg.media:
            if ref.sha256 not in batch.media:
                row = session.get(Media, ref.sha256)
                if row is None or not self.media.has(ref.sha256):
                    missing.append(ref.sha256)
                    continue
                batch.media.add(ref.sha256)
                batch.sizes[ref.sha256] = row.size
            size = batch.sizes.get(ref.sha256)
            if size is not None and size != ref.size_bytes:
                raise Refused(
                    "media_mismatch",
                    f"evidence {msg.id}: media {ref.sha256} has {size} bytes, the "
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
