"""Wire contract: models validate, round-trip, canonical form, topics."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from telemetry.contract import (
    CameraPose,
    ContractError,
    Detection,
    EvidenceMessage,
    MediaRef,
    TopicError,
    canonical_json,
    parse_evidence,
    parse_topic,
    subscription_for,
    topic_for,
)

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


def test_camera_pose_fields_and_defaults() -> None:
    pose = CameraPose(
        time=T0, lat=1.0, lon=2.0, alt_agl_m=3.0, alt_amsl_m=4.0,
        roll_deg=0.0, pitch_deg=0.0, yaw_deg=0.0,
    )  # fmt: skip
    assert pose.gimbal_pitch_deg == -90.0
    assert pose.gimbal_yaw_deg == 0.0


def test_time_is_normalised_to_utc_and_naive_refused() -> None:
    cst = timezone(timedelta(hours=8))
    msg = make_evidence(time=T0.astimezone(cst))
    assert msg.time.utcoffset() == timedelta(0)
    assert msg.time == T0
    with pytest.raises(ValidationError, match="no time zone"):
        make_evidence(time=T0.replace(tzinfo=None))


def test_round_trip_keeps_canonical_form() -> None:
    msg = make_evidence()
    again = parse_evidence(msg.to_json())
    assert again == msg
    assert canonical_json(again) == canonical_json(msg)
    assert b"signature" not in canonical_json(msg)


def test_canonical_form_changes_with_any_value_and_media_hash() -> None:
    base = canonical_json(make_evidence())
    assert canonical_json(make_evidence(lat=30.2500001)) != base
    assert (
        canonical_json(make_evidence(media=(MediaRef(sha256="cd" * 32, size_bytes=1234),))) != base
    )
    # the signature itself is not part of what is signed
    assert canonical_json(make_evidence(signature="AAAA")) == base


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"v": 2}', "contract version"),
        (b'{"v": 1}', "field"),
    ],
)
def test_parse_evidence_gives_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        parse_evidence(payload)


def test_unknown_field_and_bad_values_refused() -> None:
    data = make_evidence().model_dump(mode="json")
    data["extra"] = 1
    with pytest.raises(ContractError, match="extra"):
        parse_evidence(__import__("json").dumps(data))
    with pytest.raises(ValidationError):
        make_evidence(lat=91.0)
    with pytest.raises(ValidationError):
        make_evidence(lat=float("nan"))
    with pytest.raises(ValidationError):
        make_evidence(media=(MediaRef(sha256="XYZ", size_bytes=1),))


def test_topics_round_trip() -> None:
    t = topic_for("site-1", "uav-1", "evidence")
    assert t == "fieldpatrol/v1/site-1/uav-1/evidence"
    assert parse_topic(t).vehicle_id == "uav-1"
    m = topic_for("site-1", "uav-1", "media", sha256="ab" * 32)
    assert m.endswith("/media/" + "ab" * 32)
    assert parse_topic(m).sha256 == "ab" * 32
    assert topic_for("site-1", "uav-1", "media/" + "ab" * 32) == m
    assert parse_topic("$share/ingest/" + t).kind == "evidence"
    assert subscription_for("evidence", share="ingest") == (
        "$share/ingest/fieldpatrol/v1/+/+/evidence"
    )


@pytest.mark.parametrize(
    "bad",
    ["other/v1/s/v/evidence", "fieldpatrol/v1/s/v/bogus", "fieldpatrol/v1/s/v/media/zz",
     "fieldpatrol/v1/s/evidence", "fieldpatrol/v1/s/v+/evidence"],
)  # fmt: skip
def test_bad_topics_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(bad)


def test_topic_ids_with_wildcards_refused() -> None:
    with pytest.raises(TopicError, match="vehicle_id"):
        topic_for("site-1", "uav/#", "evidence")
