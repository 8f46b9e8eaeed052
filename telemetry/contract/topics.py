"""MQTT topics: ``fieldpatrol/v1/{site_id}/{vehicle_id}/{kind}``.

``kind`` is ``telemetry``, ``event``, ``evidence``, ``status`` or ``media/{sha256}``.
"""

import re
from dataclasses import dataclass

from telemetry.contract.errors import TopicError

TOPIC_ROOT = "fieldpatrol/v1"
#: Message kinds; ``media`` topics carry the blob's sha256 as a further level.
KINDS = ("telemetry", "event", "evidence", "media", "status")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Topic:
    """A parsed FieldPatrol topic."""

    site_id: str
    vehicle_id: str
    kind: str
    sha256: str | None = None

    def __str__(self) -> str:
        return topic_for(self.site_id, self.vehicle_id, self.kind, sha256=self.sha256)


def check_id(field: str, value: str) -> str:
    """Return ``value`` if it can be one topic level, else raise :class:`TopicError`."""
    if not isinstance(value, str) or not _ID.match(value):
        raise TopicError(
            f"{field} {value!r} cannot be used in an MQTT topic; use 1-64 characters from "
            "letters, digits, '_', '.', ':' and '-', starting with a letter or digit"
        )
    return value


def topic_for(site_id: str, vehicle_id: str, kind: str, sha256: str | None = None) -> str:
    """Return the topic for a message ``kind`` of one vehicle on one site.

    For media give ``kind="media"`` and ``sha256``, or ``kind="media/<sha256>"``.
    """
    check_id("site_id", site_id)
    check_id("vehicle_id", vehicle_id)
    if kind.startswith("media/"):
        kind, sha256 = "media", kind.removeprefix("media/")
    if kind not in KINDS:
        raise TopicError(f"kind {kind!r} is not a message kind; use one of {', '.join(KINDS)}")
    if kind == "media":
        if sha256 is None or not _SHA256.match(sha256):
            raise TopicError(
                f"sha256 {sha256!r} is not a lower-case hex SHA-256; media topics need the "
                "blob's digest"
            )
        return f"{TOPIC_ROOT}/{site_id}/{vehicle_id}/media/{sha256}"
    if sha256 is not None:
        raise TopicError(f"sha256 is only used with kind 'media', not {kind!r}")
    return f"{TOPIC_ROOT}/{site_id}/{vehicle_id}/{kind}"


def parse_topic(topic: str) -> Topic:
    """Parse a FieldPatrol topic (a ``$share/<group>/`` prefix is accepted and dropped)."""
    if topic.startswith("$share/"):
        parts = topic.split("/", 2)
        topic = parts[2] if len(parts) == 3 else ""
    root = TOPIC_ROOT + "/"
    if not topic.startswith(root):
        raise TopicError(f"topic {topic!r} does not start with {root!r}")
    levels = topic[len(root) :].split("/")
    if len(levels) == 4 and levels[2] == "media":
        site_id, vehicle_id, _, sha = levels
        if not _SHA256.match(sha):
            raise TopicError(f"topic {topic!r}: media level {sha!r} is not a lower-case SHA-256")
        return Topic(check_id("site_id", site_id), check_id("vehicle_id", vehicle_id), "media", sha)
    if len(levels) != 3:
        raise TopicError(
            f"topic {topic!r} does not have the form {TOPIC_ROOT}/<site>/<vehicle>/<kind>"
        )
    site_id, vehicle_id, kind = levels
    if kind not in KINDS or kind == "media":
        raise TopicError(f"topic {topic!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    return Topic(check_id("site_id", site_id), check_id("vehicle_id", vehicle_id), kind)


def subscription_for(
    kind: str = "#", site_id: str = "+", vehicle_id: str = "+", share: str | None = None
) -> str:
    """Return a subscription filter, e.g. all evidence of all vehicles, optionally shared.

    ``share="ingest"`` gives ``$share/ingest/fieldpatrol/v1/+/+/evidence`` so that several
    workers split the messages between them.
    """
    if kind == "media":
        kind = "media/+"
    base = f"{TOPIC_ROOT}/{site_id}/{vehicle_id}/{kind}"
    return f"$share/{share}/{base}" if share else base
