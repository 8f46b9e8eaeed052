"""Canonical JSON for audit entries and payloads: the exact bytes that get hashed.

Sorted keys, no insignificant whitespace, UTF-8, no NaN or infinity. Datetimes must be
timezone-aware and become ISO 8601 UTC with a ``Z``; dates, UUIDs, enums, paths and
decimals become strings, so every package can pass its natural values.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from cases.audit.errors import AuditError

ENTRY_VERSION = 1


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z`` (one spelling per instant)."""
    if value.tzinfo is None:
        raise AuditError(f"time {value!r} is naive: pass a timezone-aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID | PurePath | Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON")


# One encoder reused: building one per call costs more than encoding a small payload.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)
# The string escaper json.dumps(ensure_ascii=False) itself uses (the C one when available).
_quote: Any = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
)


def canonical_json(value: Any, field: str = "payload") -> str:
    """``value`` as canonical JSON text; AuditError names the field when it cannot be."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"{field} cannot be recorded: {exc}; pass JSON values (str, int, float, bool, "
            "None, lists, dicts with str keys, aware datetimes)"
        ) from exc


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of UTF-8 ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_json(
    index: int, time: str, actor: str, action: str, subject: str, payload_sha256: str
) -> str:
    """The leaf data of one audit entry (the payload itself is kept beside it, by digest).

    Exactly ``json.dumps`` of the fields with sorted keys, compact separators and
    ``ensure_ascii=False``, written out by hand because it runs once per append and verify.
    """
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},"index":{int(index)},'
        f'"payload_sha256":{_quote(payload_sha256)},"subject":{_quote(subject)},'
        f'"time":{_quote(time)},"v":{ENTRY_VERSION}}}'
    )
