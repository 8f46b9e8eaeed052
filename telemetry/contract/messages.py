"""Versioned message models: evidence (with its media references), telemetry, events, status.

Each model carries ``v`` (the contract version). Unknown fields are refused: a signed
message must mean exactly what was signed.
"""

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from telemetry.contract.errors import ContractError
from telemetry.contract.pose import CameraPose
from telemetry.contract.timeutil import to_utc
from telemetry.contract.topics import check_id

#: Version of the wire contract; carried in every message as ``v``.
CONTRACT_VERSION: Literal[1] = 1

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex SHA-256")]
WireId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", description="topic-safe id")
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    v: Literal[1] = CONTRACT_VERSION


class Detection(BaseModel):
    """What the detector saw: class, confidence, pixel box and ground footprint."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    class_name: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0.0, le=1.0)
    box_px: tuple[int, int, int, int] = Field(description="x1, y1, x2, y2 in image pixels")
    footprint_geojson: dict[str, Any] = Field(
        description="GeoJSON Polygon (lon, lat) of the box projected on the ground"
    )
    uncertainty_m: float = Field(default=0.0, ge=0.0)

    @field_validator("box_px")
    @classmethod
    def _box(cls, value: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x1, y1, x2, y2 = value
        if x2 < x1 or y2 < y1 or min(value) < 0:
            raise ValueError(f"box_px {list(value)} must be x1<=x2, y1<=y2, all >= 0")
        return value

    @field_validator("footprint_geojson")
    @classmethod
    def _footprint(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "Polygon" or not isinstance(value.get("coordinates"), list):
            raise ValueError("footprint_geojson must be a GeoJSON Polygon with coordinates")
        return value


class MediaRef(BaseModel):
    """A media blob an evidence item points to; the blob travels on ``.../media/{sha256}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sha256: Sha256
    content_type: str = Field(default="image/jpeg", max_length=100)
    size_bytes: int = Field(ge=0)
    role: Literal["frame", "crop", "video", "other"] = "frame"


class EvidenceMessage(_Message):
    """One suspected violation, as captured on a vehicle; signed by the vehicle's device key.

    ``sequence`` increases by one per evidence item on a vehicle (never reused): the
    gateway refuses a sequence number it has already accepted under another id (replay).
    """

    id: str = Field(min_length=1, max_length=64, description="globally unique (a UUID)")
    sequence: int = Field(ge=0, description="device sequence number, increasing per vehicle")
    site_id: WireId
    vehicle_id: WireId
    mission_id: str = Field(max_length=64)
    sortie_id: str = Field(max_length=64)
    time: datetime
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    alt_agl_m: float
    alt_amsl_m: float
    pose: CameraPose
    detection: Detection
    media: tuple[MediaRef, ...] = ()
    key_id: str | None = Field(default=None, max_length=64, description="signing key id")
    signature: str | None = Field(
        default=None, max_length=128, description="base64 Ed25519 over the canonical JSON"
    )

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @property
    def media_sha256(self) -> list[str]:
        """The sha256 of each media blob, in message order."""
        return [m.sha256 for m in self.media]

    def to_json(self) -> bytes:
        """Serialise for the wire (compact JSON, UTF-8)."""
        return self.model_dump_json().encode("utf-8")


class TelemetryMessage(_Message):
    """Vehicle state, sent at QoS 0 a few times a second."""

    site_id: WireId
    vehicle_id: WireId
    sortie_id: str | None = None
    time: datetime
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    alt_agl_m: float
    alt_amsl_m: float
    heading_deg: float = 0.0
    ground_speed_m_s: float = 0.0
    battery_pct: float | None = None
    mode: str = ""
    armed: bool = False

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


class EventMessage(_Message):
    """Something that happened on the vehicle (mode change, fence breach, failsafe, ...)."""

    site_id: WireId
    vehicle_id: WireId
    sortie_id: str | None = None
    time: datetime
    kind: str = Field(min_length=1, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict)

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


class StatusMessage(_Message):
    """Retained online/offline state of a vehicle; the offline one is the MQTT last will."""

    site_id: WireId
    vehicle_id: WireId
    time: datetime
    online: bool
    software: str = ""
    backlog: int | None = Field(default=None, ge=0, description="evidence waiting in outbox")

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)


def parse_evidence(payload: bytes | str) -> EvidenceMessage:
    """Parse an evidence payload; raise :class:`ContractError` with a readable reason."""
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"evidence payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"evidence payload is a JSON {type(data).__name__}, not an object")
    if data.get("v") != CONTRACT_VERSION:
        raise ContractError(
            f"evidence field v={data.get('v')!r} is not a supported contract version "
            f"(this gateway reads v={CONTRACT_VERSION})"
        )
    try:
        msg = EvidenceMessage.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(message)"
        raise ContractError(
            f"evidence field {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from exc
    check_id("vehicle_id", msg.vehicle_id)
    return msg


def is_sha256(value: str) -> bool:
    """True if ``value`` is a lower-case hex SHA-256 digest."""
    return bool(_SHA256_RE.match(value))
