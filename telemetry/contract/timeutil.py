"""Validation of wire timestamps: timezone-aware, normalised to UTC."""

from datetime import UTC, datetime


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused because its zone is unknown."""
    if value.tzinfo is UTC:
        return value
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None:
        raise ValueError(
            f"time {value.isoformat()} has no time zone; give a timezone-aware UTC datetime "
            "(e.g. datetime.now(UTC))"
        )
    if not offset:
        # Already UTC under another tzinfo (pydantic's parsed "Z"): cheaper than astimezone.
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
