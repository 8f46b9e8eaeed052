"""Wire contract: models validate, round-trip, canonical form, topics."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from telemetry.contract import (
    CameraPose,
    ContractError,
    EvidenceMessage,
    MediaRef,
    TopicError,
    canonical_json,
    parse_evidence,
    parse_topic,
    subscription_for,
    topic_for,
)

Factory = Callable[..., EvidenceMessage]
T0 = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def test_camera_pose_fields_and_defaults() -> None:
    pose = CameraPose(
        time=T0, lat=1.0, lon=2.0, alt_agl_m=3.0, alt_amsl_m=4.0,
        roll_deg=0.0, pitch_deg=0.0, yaw_deg=0.0,
    )  # fmt: skip
    assert pose.gimbal_pitch_deg == -90.0
    assert pose.gimbal_yaw_deg == 0.0


def test_time_is_normalised_to_utc_and_naive_refused(evidence: Factory) -> None:
    cst = timezone(timedelta(hours=8))
    msg = evidence(time=T0.astimezone(cst))
    assert msg.time.utcoffset() == timedelta(0)
    assert msg.time == T0
    with pytest.raises(ValidationError, match="no time zone"):
        evidence(time=T0.replace(tzinfo=None))


def test_round_trip_keeps_canonical_form(evidence: Factory) -> None:
    msg = evidence()
    again = parse_evidence(msg.to_json())
    assert again == msg
    assert canonical_json(again) == canonical_json(msg)
    assert b"signature" not in canonical_json(msg)


def test_canonical_form_changes_with_any_value_and_media_hash(evidence: Factory) -> None:
    base = canonical_json(evidence())
    assert canonical_json(evidence(lat=30.2500001)) != base
    assert canonical_json(evidence(media=(MediaRef(sha256="cd" * 32, size_bytes=1234),))) != base
    # the signature itself is not part of what is signed
    assert canonical_json(evidence(signature="AAAA")) == base


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


def test_unknown_field_and_bad_values_refused(evidence: Factory) -> None:
    data = evidence().model_dump(mode="json")
    data["extra"] = 1
    with pytest.raises(ContractError, match="extra"):
        parse_evidence(__import__("json").dumps(data))
    with pytest.raises(ValidationError):
        evidence(lat=91.0)
    with pytest.raises(ValidationError):
        evidence(lat=float("nan"))
    with pytest.raises(ValidationError):
        evidence(media=(MediaRef(sha256="XYZ", size_bytes=1),))


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


def test_published_json_schemas_match_the_models(evidence: Factory) -> None:
    import jsonschema

    from telemetry.contract.schema import MESSAGES, render

    docs = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    for name in MESSAGES:
        path = docs / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == render(name), (
            f"{path} is stale: run python -m telemetry.contract.schema docs/schemas"
        )
    schema = json.loads((docs / "evidence.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(evidence().to_json()), schema)
