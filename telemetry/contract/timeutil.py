"""Validation of wire timestamps: timezone-aware, normalised to UTC."""

from datetime import UTC, datetime


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused because its zone is unknown."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"time {value.isoformat()} has no time zone; give a timezone-aware UTC datetime "
            "(e.g. datetime.now(UTC))"
        )
    return value.astimezone(UTC)
