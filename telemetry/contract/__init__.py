"""The wire contract: what leaves a vehicle, as versioned pydantic models and MQTT topics.

Everything a vehicle sends (evidence, media, telemetry, events, status) is described here;
the gateway parses with the same models, so both ends agree by construction. Signing works
over :func:`canonical_json`, which is stable across a JSON round trip.
"""

from telemetry.contract.canonical import canonical_json
from telemetry.contract.errors import ContractError, TopicError
from telemetry.contract.messages import (
    CONTRACT_VERSION,
    Detection,
    EventMessage,
    EvidenceMessage,
    MediaRef,
    StatusMessage,
    TelemetryMessage,
    parse_evidence,
)
from telemetry.contract.pose import CameraPose
from telemetry.contract.topics import (
    KINDS,
    TOPIC_ROOT,
    Topic,
    parse_topic,
    subscription_for,
    topic_for,
)

__all__ = [
    "CONTRACT_VERSION",
    "KINDS",
    "TOPIC_ROOT",
    "CameraPose",
    "ContractError",
    "Detection",
    "EventMessage",
    "EvidenceMessage",
    "MediaRef",
    "StatusMessage",
    "TelemetryMessage",
    "Topic",
    "TopicError",
    "canonical_json",
    "parse_evidence",
    "parse_topic",
    "subscription_for",
    "topic_for",
]
