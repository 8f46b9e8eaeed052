"""Evidence building: a suspect becomes an evidence message plus its media.

The frame is saved as a JPEG whose EXIF carries where and when it was taken (GPS latitude,
longitude, altitude AMSL, UTC date and time, camera attitude in the image description) so
the picture still says where it came from when it leaves the system; a crop around the box
makes the finding easy to review. The message is the wire contract's
:class:`telemetry.contract.EvidenceMessage`, unsigned (the vehicle's device key signs it).
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from PIL import Image, TiffImagePlugin

from telemetry.contract import CameraPose, Detection, EvidenceMessage, MediaRef
from vision.detector import Box
from vision.errors import VisionError
from vision.georef import footprint_geojson
from vision.merge import Suspect

__all__ = [
    "build_evidence",
    "encode_crop_jpeg",
    "encode_frame_jpeg",
    "read_exif_gps",
    "sha256_hex",
]

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data`` (the media address)."""
    return hashlib.sha256(data).hexdigest()


def _rational(x: float, max_den: int = 1_000_000) -> TiffImagePlugin.IFDRational:
    f = Fraction(x).limit_denominator(max_den)
    return TiffImagePlugin.IFDRational(f.numerator, f.denominator)


def _dms(deg: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    deg = abs(deg)
    d = int(deg)
    m_full = (deg - d) * 60.0
    m = int(m_full)
    s = (m_full - m) * 60.0
    return (_rational(d, 1), _rational(m, 1), _rational(round(s, 4), 10_000))


def _to_image(image: np.ndarray) -> Image.Image:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise VisionError(f"image: expected an HxWx3 uint8 RGB array, got {arr.shape} {arr.dtype}")
    return Image.fromarray(arr)


def encode_frame_jpeg(image: np.ndarray, pose: CameraPose, quality: int = 90) -> bytes:
    """The frame as JPEG bytes with EXIF GPS position, altitude, UTC time and attitude."""
    img = _to_image(image)
    t = pose.time.astimezone(UTC)
    exif = Image.Exif()
    exif[0x010F] = "FieldPatrol"  # Make
    exif[0x0110] = "synthetic-or-vehicle-camera"  # Model
    exif[0x0131] = "fieldpatrol.vision"  # Software
    exif[0x0132] = t.strftime("%Y:%m:%d %H:%M:%S")  # DateTime
    exif[0x010E] = json.dumps(  # ImageDescription: the pose, machine-readable
        {
            "alt_agl_m": pose.alt_agl_m,
            "roll_deg": pose.roll_deg,
            "pitch_deg": pose.pitch_deg,
            "yaw_deg": pose.yaw_deg,
            "gimbal_pitch_deg": pose.gimbal_pitch_deg,
            "gimbal_yaw_deg": pose.gimbal_yaw_deg,
        },
        sort_keys=True,
    )
    sub = exif.get_ifd(_EXIF_IFD)
    sub[0x9003] = t.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    sub[0x9011] = "+00:00"  # OffsetTimeOriginal
    sub[0x9291] = f"{t.microsecond // 1000:03d}"  # SubSecTimeOriginal
    gps = exif.get_ifd(_GPS_IFD)
    gps[0x0000] = b"\x02\x03\x00\x00"  # GPSVersionID
    gps[0x0001] = "N" if pose.lat >= 0 else "S"
    gps[0x0002] = _dms(pose.lat)
    gps[0x0003] = "E" if pose.lon >= 0 else "W"
    gps[0x0004] = _dms(pose.lon)
    gps[0x0005] = 0 if pose.alt_amsl_m >= 0 else 1
    gps[0x0006] = _rational(abs(pose.alt_amsl_m), 1000)
    gps[0x0007] = (
        _rational(t.hour, 1),
        _rational(t.minute, 1),
        _rational(t.second + t.microsecond / 1e6, 1000),
    )
    gps[0x001D] = t.strftime("%Y:%m:%d")  # GPSDateStamp
    gps[0x0012] = "WGS-84"  # GPSMapDatum
    gps[0x0010] = "T"  # GPSImgDirectionRef: true north
    gps[0x0011] = _rational((pose.yaw_deg + pose.gimbal_yaw_deg) % 360.0, 100)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def read_exif_gps(jpeg: bytes) -> dict[str, Any]:
    """Read lat, lon, alt_amsl_m and UTC time back from a JPEG made by :func:`encode_frame_jpeg`."""
    with Image.open(io.BytesIO(jpeg)) as img:
        exif = img.getexif()
    gps = exif.get_ifd(_GPS_IFD)
    sub = exif.get_ifd(_EXIF_IFD)
    if not gps:
        raise VisionError("jpeg: no EXIF GPS block; was it written by encode_frame_jpeg?")

    def deg(v: Any, ref: str, neg: str) -> float:
        d, m, s = (float(x) for x in v)
        val = d + m / 60.0 + s / 3600.0
        return -val if ref == neg else val

    alt = float(gps[0x0006]) * (-1.0 if gps.get(0x0005, 0) == 1 else 1.0)
    t = datetime.strptime(sub[0x9003], "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    return {
        "lat": deg(gps[0x0002], gps[0x0001], "S"),
        "lon": deg(gps[0x0004], gps[0x0003], "W"),
        "alt_amsl_m": alt,
        "time": t,
    }


def encode_crop_jpeg(image: np.ndarray, box: Box, margin: float = 0.5, min_px: int = 64) -> bytes:
    """A JPEG crop around ``box``, grown by ``margin`` of its size on each side for context."""
    img = _to_image(image)
    w, h = img.size
    bw, bh = max(box.width, 1.0), max(box.height, 1.0)
    cx, cy = box.center
    half_w = max(bw * (1 + 2 * margin), min_px) / 2.0
    half_h = max(bh * (1 + 2 * margin), min_px) / 2.0
    x1, y1 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x2, y2 = min(w, int(cx + half_w + 0.5)), min(h, int(cy + half_h + 0.5))
    buf = io.BytesIO()
    img.crop((x1, y1, x2, y2)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def build_evidence(
    suspect: Suspect,
    frame_jpeg: bytes,
    crop_jpeg: bytes | None = None,
    *,
    mission_id: str,
    sortie_id: str,
    vehicle_id: str,
    sequence: int,
    site_id: str = "site",
    evidence_id: str | None = None,
) -> tuple[EvidenceMessage, dict[str, bytes]]:
    """An unsigned evidence message for ``suspect`` and its media, keyed by sha256.

    The message's position (``lat``, ``lon``) is the suspect's merged ground position; its
    altitudes and ``pose`` are the camera's at the best frame, and ``time`` that frame's.
    """
    best = suspect.best
    pose: CameraPose = best.pose
    media: dict[str, bytes] = {}
    refs: list[MediaRef] = []
    roles: tuple[tuple[bytes | None, Literal["frame", "crop"]], ...] = (
        (frame_jpeg, "frame"),
        (crop_jpeg, "crop"),
    )
    for blob, role in roles:
        if blob is None:
            continue
        digest = sha256_hex(blob)
        media[digest] = blob
        refs.append(MediaRef(sha256=digest, size_bytes=len(blob), role=role))
    det = Detection(
        class_name=suspect.class_name,
        confidence=min(1.0, max(0.0, best.box.confidence)),
        box_px=tuple(max(0, v) for v in best.box.as_list()),  # type: ignore[arg-type]
        footprint_geojson=footprint_geojson(best.fix.footprint),
        uncertainty_m=suspect.uncertainty_m,
    )
    msg = EvidenceMessage(
        id=evidence_id or str(uuid.uuid4()),
        sequence=sequence,
        site_id=site_id,
        vehicle_id=vehicle_id,
        mission_id=mission_id,
        sortie_id=sortie_id,
        time=pose.time,
        lat=suspect.lat,
        lon=suspect.lon,
        alt_agl_m=pose.alt_agl_m,
        alt_amsl_m=pose.alt_amsl_m,
        pose=pose,
        detection=det,
        media=tuple(refs),
    )
    return msg, media
