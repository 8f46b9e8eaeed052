"""Canonical JSON: the byte string a device signs and the gateway verifies.

Keys sorted, no whitespace, UTF-8, the ``signature`` field left out. Both ends build it from
the parsed model (not from the received bytes), so formatting differences on the wire do not
matter, while any change of a value does.
"""

import json
from typing import Any

from pydantic import BaseModel

#: Fields that are not covered by the signature (the signature itself).
UNSIGNED_FIELDS = frozenset({"signature"})


def canonical_json(model: BaseModel) -> bytes:
    """Return the canonical JSON bytes of ``model`` without its ``signature`` field."""
    data: dict[str, Any] = model.model_dump(mode="json", exclude=set(UNSIGNED_FIELDS))
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
