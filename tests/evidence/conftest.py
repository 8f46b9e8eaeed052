"""Shared helpers for the evidence-pipeline tests: message factories."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from telemetry.contract import CameraPose, Detection, EvidenceMessage, MediaRef

T0 = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def make_evidence(**over: object) -> EvidenceMessage:
    pose = CameraPose(
        time=T0, lat=30.25, lon=120.15, alt_agl_m=50.0, alt_amsl_m=62.5,
        roll_deg=1.5, pitch_deg=-2.0, yaw_deg=90.0,
    )  # fmt: skip
    det = Detection(
        class_name="waste_dumping",
        confidence=0.87,
        box_px=(10, 20, 110, 220),
        footprint_geojson={
            "type": "Polygon",
            "coordinates": [
                [[120.15, 30.25], [120.1501, 30.25], [120.1501, 30.2501], [120.15, 30.25]]
            ],
        },
    )
    fields: dict[str, object] = dict(
        id="0b7e6f1c-3a0e-4a55-9a8e-1f1f4f8a2d10", sequence=7, site_id="site-1",
        vehicle_id="uav-1", mission_id="m-1", sortie_id="s-1", time=T0, lat=30.25,
        lon=120.15, alt_agl_m=50.0, alt_amsl_m=62.5, pose=pose, detection=det,
        media=(MediaRef(sha256="ab" * 32, size_bytes=1234),),
    )  # fmt: skip
    fields.update(over)
    return EvidenceMessage.model_validate(fields)


@pytest.fixture
def evidence() -> Callable[..., EvidenceMessage]:
    """A factory of valid, unsigned evidence messages; keyword arguments override fields."""
    return make_evidence
