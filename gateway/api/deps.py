"""Dependencies shared by the routers: a database session per request, pagination, the
authenticated user with role checks and department scope, rate limits, and the one way every
list answers (`paginated`: filters, page, total, ETag)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from cases.models import User
from gateway.auth import tokens
from gateway.errors import AuthError

SESSION_COOKIE = "fp_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Roles of the gateway (the case record knows a few more: head, archivist, engineer).
INSPECTOR, LEGAL_REVIEWER, SUPERVISOR, ADMIN = "inspector", "legal_reviewer", "supervisor", "admin"
#: Who may plan and launch missions, and manage vehicles.
FLIGHT_ROLES = (INSPECTOR, SUPERVISOR, ADMIN, "head", "engineer")
#: Who may act on cases (the procedure then checks the role allowed for each step).
CASE_ROLES = (INSPECTOR, LEGAL_REVIEWER, SUPERVISOR, ADMIN, "head", "archivist")


def db_session(request: Request) -> Iterator[Session]:
    """One session per request, closed afterwards."""
    with request.app.state.sessions() as session:
        yield session


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: int = Query(50, ge=1, le=500, description="Items per page."),
    offset: int = Query(0, ge=0, le=10_000_000, description="Items to skip."),
) -> Page:
    return Page(limit, offset)


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request."""

    id: int
    username: str
    name: str
    role: str
    department_id: str | None

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"user:{self.username}"

    @property
    def all_departments(self) -> bool:
        """Administrators see every department; everyone else only their own."""
        return self.role == ADMIN

    def may_see(self, department_id: str | None) -> bool:
        return self.all_departments or (
            department_id is not None and department_id == self.department_id
        )


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, session: Session = Depends(db_session)) -> Principal:
    """The user of a bearer token, or of the console's session cookie (with CSRF check)."""
    secret: bytes = request.app.state.config.secret_key
    header = request.headers.get("authorization", "")
    try:
        if header.lower().startswith("bearer "):
            claims = tokens.verify(secret, header[7:].strip(), "access")
        elif SESSION_COOKIE in request.cookies:
            claims = tokens.verify(secret, request.cookies[SESSION_COOKIE], "session")
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not claims.csrf or not hmac.compare_digest(sent, claims.csrf):
                    raise HTTPException(
                        403, f"CSRF check failed: send the session's token in {CSRF_HEADER}"
                    )
        else:
            raise _unauthorized("not authenticated: log in or send a bearer token")
    except AuthError as exc:
        raise _unauthorized(str(exc)) from None
    user = session.get(User, claims.user_id)
    if user is None or not user.active or user.username != claims.username:
        raise _unauthorized("user unknown or deactivated")
    principal = Principal(user.id, user.username, user.name, user.role, user.department_id)
    request.state.principal = principal
    # Give the connection back while the request waits for a worker thread; the endpoint's
    # first query takes one again (otherwise queued requests exhaust the pool).
    session.close()
    return principal


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only users holding one of ``roles``."""

    def check(user: Principal = Depends(current_user)) -> Principal:
        if user.role not in roles:
            raise HTTPException(
                403, f"role '{user.role}' may not do this; needs one of {list(roles)}"
            )
        return user

    return check


def rate_limited(name: str) -> Callable[[Request], None]:
    """A dependency applying the app's rate limiter ``name`` to the client address."""

    def check(request: Request) -> None:
        limiter = request.app.state.limiters[name]
        client = request.client.host if request.client else "unknown"
        wait = limiter.allow(client)
        if wait > 0:
            raise HTTPException(
                429,
                f"too many requests; retry in {wait:.0f} s",
                headers={"Retry-After": str(max(1, round(wait)))},
            )

    return check


def _json_default(value: Any) -> Any:
    # What the views hold besides JSON types: timestamps and legal dates, as FastAPI
    # renders them (ISO 8601); anything rarer goes through FastAPI's own encoder.
    if isinstance(value, datetime | date):
        return value.isoformat()
    return jsonable_encoder(value)


def etag_response(request: Request, data: Any) -> Response:
    """``data`` as JSON with a strong ETag; 304 when the client already holds it."""
    # json.dumps with a default, not jsonable_encoder over the whole page: that walk cost
    # more CPU than the page's query (3-5 ms for 50 items).
    body = json.dumps(
        data, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_json_default
    ).encode("utf-8")
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    match = request.headers.get("if-none-match", "")
    if tag in [t.strip() for t in match.split(",")] or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def listing(total: int, paging: Page, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The envelope of every list: total, limit, offset, items."""
    return {"total": total, "limit": paging.limit, "offset": paging.offset, "items": items}


def equals(column: Any, value: Any) -> ColumnElement[bool] | None:
    """The filter ``column == value``, or none when the query parameter was not given."""
    return None if value is None else column == value


def paginated(
    request: Request,
    session: Session,
    query: Select[Any],
    paging: Page,
    *,
    where: Iterable[ColumnElement[bool] | None] = (),
    order_by: Sequence[Any],
    render: Callable[[Sequence[Any]], list[dict[str, Any]]],
) -> Response:
    """A list response: ``query`` (already scoped to the user's department) narrowed by the
    ``where`` filters (``None`` entries are filters not asked for), the requested page in
    ``order_by`` order turned into items by ``render``, and the total under the same filters,
    in the `listing` envelope with an ETag.

    The page and the total come from one filtered query, so they cannot disagree. The count is
    skipped when the page itself shows the total (a short, non-empty page, or a first page
    that is not full): on a large table it costs as much as the page. Large totals are
    cached briefly (`CountCache`).
    """
    conditions = [c for c in where if c is not None]
    if conditions:
        query = query.where(*conditions)
    rows = session.scalars(
        query.order_by(*order_by).limit(paging.limit).offset(paging.offset)
    ).all()
    if len(rows) < paging.limit and (rows or paging.offset == 0):
        total = paging.offset + len(rows)
    else:
        count = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
        cache: CountCache | None = getattr(request.app.state, "count_cache", None)
        if cache is None:
            total = int(session.execute(count).scalar_one())
        else:
            total = cache.get(session, count)
    return etag_response(request, listing(total, paging, render(rows)))


class CountCache:
    """Totals of large lists, reused for ``ttl_s`` seconds.

    Counting 100,000 evidence rows costs about as much as serving the page; a hundred clients
    paging the same list would count it a hundred times a second. Only totals of at least
    ``min_total`` rows are kept: small totals stay exact, and a large one is at most
    ``ttl_s`` old (the items on the page are always current).
    """

    def __init__(self, ttl_s: float = 2.0, min_total: int = 5_000, max_entries: int = 1024):
        self.ttl_s = ttl_s
        self.min_total = min_total
        self.max_entries = max_entries
        self._entries: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, count: Select[Any]) -> int:
        compiled = count.compile(session.get_bind())
        key = (str(compiled), tuple(sorted((k, repr(v)) for k, v in compiled.params.items())))
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        total = int(session.execute(count).scalar_one())
        if total >= self.min_total:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now, total)
        return total
