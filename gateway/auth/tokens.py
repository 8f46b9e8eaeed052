"""Short-lived signed tokens (JWT, HS256): bearer tokens for API clients, session tokens for the
console cookie (these carry the CSRF token the console must echo in a header)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from gateway.errors import AuthError

ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: who, which kind, and the CSRF token of a session."""

    user_id: int
    username: str
    kind: str  # "access" | "session"
    expires: datetime
    csrf: str | None


def issue(
    secret: bytes,
    user_id: int,
    username: str,
    kind: str = "access",
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    """A signed token for ``user_id``; a session token gets a fresh CSRF token."""
    if kind not in ("access", "session"):
        raise AuthError(f"token kind {kind!r}: use 'access' or 'session'")
    now = now or datetime.now(UTC)
    expires = now + (ttl or (ACCESS_TTL if kind == "access" else SESSION_TTL))
    csrf = secrets.token_urlsafe(24) if kind == "session" else None
    body: dict[str, Any] = {
        "sub": username,
        "uid": user_id,
        "typ": kind,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if csrf is not None:
        body["csrf"] = csrf
    token = jwt.encode(body, secret, algorithm=ALGORITHM)
    return token, TokenClaims(user_id, username, kind, expires, csrf)


def verify(secret: bytes, token: str, kind: str) -> TokenClaims:
    """The claims of ``token`` if it is authentic, unexpired and of ``kind``."""
    try:
        body = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "uid"]}
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; log in again") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"token invalid ({exc})") from None
    if body.get("typ") != kind or not isinstance(body.get("uid"), int):
        raise AuthError(f"token is not a {kind} token")
    return TokenClaims(
        user_id=body["uid"],
        username=str(body["sub"]),
        kind=kind,
        expires=datetime.fromtimestamp(int(body["exp"]), UTC),
        csrf=body.get("csrf"),
    )
