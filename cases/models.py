"""SQLAlchemy 2 models of the case record: who, where, what was seen, and what was decided.

One name for one thing: a ``Site`` is inspected by a ``Mission`` flown in ``Sortie``\\ s; a
sortie produces ``Evidence`` (with ``Media`` addressed by sha256); evidence supports a
``Case`` which moves through ``CaseStep``\\ s, each leaving ``Document``\\ s and deadlines.
Every table change goes through an Alembic migration in ``cases/migrations/versions``.

Times are timezone-aware UTC (:class:`UTCDateTime`); legal dates are plain ``date``\\ s on
the Asia/Shanghai calendar; money is integer yuan.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no time zones, so values are normalised to UTC on the way in and tagged
    UTC on the way out; naive datetimes are refused because their meaning is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every table of the case record (audit log included)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# --- organisation -----------------------------------------------------------------------


class Department(Base):
    """An administrative law-enforcement department (urban management, natural resources...)."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # short code, e.g. "CG"
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    seal_text: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A named person who acts on cases; the role decides which steps they may take."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    # 执法证号: enforcement credential number; None means not qualified (Art. 42).
    credential_no: Mapped[str | None] = mapped_column(String(64))
    credential_valid_until: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Party(Base):
    """The party (当事人) of a case: an individual or an organisation."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "individual" | "organisation"
    name: Mapped[str] = mapped_column(String(200))
    id_number: Mapped[str | None] = mapped_column(String(64))  # ID card or credit code
    address: Mapped[str] = mapped_column(String(400), default="")
    phone: Mapped[str | None] = mapped_column(String(64))
    legal_representative: Mapped[str | None] = mapped_column(String(200))
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- flying ------------------------------------------------------------------------------


class SiteRecord(Base):
    """A geofenced inspection site as stored (the GeoJSON it was loaded from)."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    geojson: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Art. 41: places where electronic monitoring is used are published in advance.
    published_at: Mapped[datetime | None] = mapped_column()
    published_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MissionRecord(Base):
    """A planned mission over a site (survey, perimeter, point inspection)."""

    __tablename__ = "missions"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(32), default="survey")
    vehicle: Mapped[str] = mapped_column(String(16), default="copter")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    area_m2: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sortie(Base):
    """One flight (or drive) of one vehicle flying a mission."""

    __tablename__ = "sorties"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    mission_id: Mapped[str | None] = mapped_column(ForeignKey("missions.id"))
    vehicle_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(32), default="planned")
    distance_m: Mapped[float | None] = mapped_column(Float)
    area_covered_m2: Mapped[float | None] = mapped_column(Float)
    photos: Mapped[int | None] = mapped_column(Integer)
    tlog_path: Mapped[str | None] = mapped_column(String(500))


class Device(Base):
    """An enrolled vehicle: its Ed25519 public key and the last evidence sequence seen."""

    __tablename__ = "devices"

    vehicle_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # hex or base64, as enrolled
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seq: Mapped[int] = mapped_column(Integer, default=-1)
    # Art. 41: legal and technical review before use, and metrological verification.
    legal_review_ref: Mapped[str | None] = mapped_column(String(200))
    metrology_valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column()


# --- evidence ----------------------------------------------------------------------------


class Evidence(Base):
    """One signed evidence item from a vehicle: a suspected violation with its capture."""

    __tablename__ = "evidence"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    device_seq: Mapped[int] = mapped_column(Integer)
    vehicle_id: Mapped[str] = mapped_column(String(100), index=True)
    # Plain ids, not foreign keys: evidence is accepted even when the gateway has not
    # (yet) been told about the mission, and must never be dropped for that.
    site_id: Mapped[str] = mapped_column(String(100), index=True)
    mission_id: Mapped[str] = mapped_column(String(100), index=True)
    sortie_id: Mapped[str] = mapped_column(String(100), index=True)
    captured_at: Mapped[datetime] = mapped_column(index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    alt_agl_m: Mapped[float] = mapped_column(Float)
    alt_amsl_m: Mapped[float] = mapped_column(Float)
    class_name: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    box_px: Mapped[list[Any]] = mapped_column(JSON)
    footprint: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(Text)
    raw_json: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Art. 41 review: "pending" until a reviewer passes or fails the record.
    art41_review: Mapped[str] = mapped_column(String(16), default="pending")
    art41_reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    art41_reviewed_at: Mapped[datetime | None] = mapped_column()
    art41_reason: Mapped[str | None] = mapped_column(Text)
    art41_checks: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    media: Mapped[list[EvidenceMedia]] = relationship(
        back_populates="evidence", cascade="all, delete-orphan", order_by="EvidenceMedia.position"
    )

    # Not unique: a simulator or a re-flashed device may restart its sequence; replay
    # detection by sequence belongs to the ingest, which knows the device's history.
    __table_args__ = (
        Index("ix_evidence_vehicle_seq", "vehicle_id", "device_seq"),
        # A site's evidence newest first without sorting it all (the gateway's department
        # list): created by migration 0003_gateway.
        Index("ix_evidence_site_captured", "site_id", "captured_at", "id"),
    )


class Media(Base):
    """A content-addressed media file (image, crop, video) in the media store."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceMedia(Base):
    """Which media an evidence item references (media may arrive after the evidence)."""

    __tablename__ = "evidence_media"

    evidence_id: Mapped[str] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    evidence: Mapped[Evidence] = relationship(back_populates="media")


class DeadLetter(Base):
    """A message that could not be ingested, kept with the reason (never silently dropped)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- cases -------------------------------------------------------------------------------


class Case(Base):
    """An enforcement case: from a suspicion (线索) to archiving, one procedure state at a time."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    department: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    class_name: Mapped[str] = mapped_column(String(64), index=True)
    violation_code: Mapped[str | None] = mapped_column(String(64))
    procedure: Mapped[str] = mapped_column(String(16), default="general")  # or "summary"
    state: Mapped[str] = mapped_column(String(32), index=True, default="suspected")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    site_id: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Capture time of the newest evidence: new sightings within the window join this case.
    last_evidence_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    title: Mapped[str] = mapped_column(String(400), default="")
    facts: Mapped[str] = mapped_column(Text, default="")
    # Limitation period (Art. 36): when the act happened or, if continuing, ended.
    act_date: Mapped[date | None] = mapped_column(Date)
    serious_harm: Mapped[bool] = mapped_column(Boolean, default=False)
    filed_at: Mapped[datetime | None] = mapped_column()
    filed_on: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(32))
    # The intended penalty as notified, and the one decided (kind, amount_yuan, ...).
    proposed_penalty: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decided_penalty: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    defence_received: Mapped[bool] = mapped_column(Boolean, default=False)
    hearing_required: Mapped[bool] = mapped_column(Boolean, default=False)
    hearing_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_review_required: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_review_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    collective_required: Mapped[bool] = mapped_column(Boolean, default=False)
    facts_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    discretion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Optimistic locking: two people acting on one case at once cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1)

    steps: Mapped[list[CaseStep]] = relationship(
        back_populates="case", order_by="CaseStep.seq", cascade="all, delete-orphan"
    )
    evidence_links: Mapped[list[CaseEvidence]] = relationship(
        back_populates="case", cascade="all, delete-orphan"
    )
    party: Mapped[Party | None] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)


class CaseEvidence(Base):
    """Evidence attached to a case."""

    __tablename__ = "case_evidence"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="evidence_links")
    evidence: Mapped[Evidence] = relationship()


class CaseStep(Base):
    """One procedural act on a case: who (name, role, credential), when, why, and what."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(48))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(200))
    officers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{id,name,credential_no}]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)

    case: Mapped[Case] = relationship(back_populates="steps")
    documents: Mapped[list[Document]] = relationship(back_populates="step")

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_steps_seq"),)


class CaseDeadline(Base):
    """A legal deadline started by a step; met when the closing step happens in time."""

    __tablename__ = "case_deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("case_steps.id"))
    kind: Mapped[str] = mapped_column(String(48))
    basis: Mapped[str] = mapped_column(String(200))
    start_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    unit: Mapped[str] = mapped_column(String(16))  # "working" | "calendar"
    met_on: Mapped[date | None] = mapped_column(Date)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class Document(Base):
    """A generated case-file document, numbered per department, kind and year, and hashed."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("case_steps.id"))
    kind: Mapped[str] = mapped_column(String(48))
    department: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    docx_path: Mapped[str | None] = mapped_column(String(500))
    docx_sha256: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    step: Mapped[CaseStep | None] = relationship(back_populates="documents")

    __table_args__ = (
        UniqueConstraint("department", "kind", "year", "serial", name="uq_documents_serial"),
    )


class Disclosure(Base):
    """An entry of the public register of enforcement decisions (公示), redacted."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "penalty" | "permit" | "other"
    procedure: Mapped[str] = mapped_column(String(16), default="general")
    decided_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column()
    published_on: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(400), default="")
    redacted_text: Mapped[str] = mapped_column(Text, default="")
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    withdraw_due_on: Mapped[date | None] = mapped_column(Date)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")


# --- reference data ----------------------------------------------------------------------


class BenchmarkTableRecord(Base):
    """A discretion benchmark table as loaded from its data file (kept for the case file)."""

    __tablename__ = "benchmark_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    violation_code: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(32))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    example: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("violation_code", "sha256", name="uq_benchmark_version"),)


class HolidayDay(Base):
    """A day of the official holiday arrangement: a holiday, or a make-up working day."""

    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "holiday" | "workday"
    name: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(200), default="")


Index("ix_cases_class_state", Case.class_name, Case.state)
