"""Password (and access code) hashing with argon2id, and setting a user's password."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from cases.models import User, utcnow
from gateway.errors import AuthError
from gateway.models import Credential

# Modest cost: the login rate limit, not the hash cost alone, stops online guessing, and the
# gateway shares two cores with the ingest.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MIN_PASSWORD_LENGTH = 8
# Verified against when the user does not exist, so a wrong name costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def hash_secret(secret: str) -> str:
    """The argon2id hash of ``secret``."""
    return _HASHER.hash(secret)


def verify_secret(hashed: str | None, secret: str) -> bool:
    """True when ``secret`` matches ``hashed`` (constant work when ``hashed`` is None)."""
    try:
        return _HASHER.verify(hashed or _DUMMY_HASH, secret) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, user: User, password: str) -> None:
    """Store the hash of ``password`` for ``user`` (flushes; the caller commits)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(
            f"password: {len(password)} characters is too short; use at least {MIN_PASSWORD_LENGTH}"
        )
    row = session.get(Credential, user.id)
    if row is None:
        session.add(Credential(user_id=user.id, password_hash=hash_secret(password)))
    else:
        row.password_hash = hash_secret(password)
        row.updated_at = utcnow()
    session.flush()


def password_hash(session: Session, user_id: int) -> str | None:
    """The stored hash of a user's password, or None when none is set."""
    row = session.get(Credential, user_id)
    return row.password_hash if row is not None else None
