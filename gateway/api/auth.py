"""Logging in and out: the OAuth2 password flow for API clients (bearer tokens), a cookie
session with a CSRF token for the console, who am I, and user administration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.errors import CasesError
from cases.models import User
from cases.users import create_user
from gateway.api.deps import (
    ADMIN,
    SESSION_COOKIE,
    SUPERVISOR,
    Principal,
    current_user,
    db_session,
    rate_limited,
    require,
)
from gateway.auth import tokens
from gateway.auth.passwords import password_hash, set_password, verify_secret
from gateway.errors import AuthError

router = APIRouter(tags=["auth"])


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=32)
    department: str | None = Field(None, max_length=32)
    password: str = Field(min_length=8, max_length=200)
    credential_no: str | None = Field(None, max_length=64)


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "department": user.department_id,
        "active": user.active,
    }


def _authenticate(session: Session, request: Request, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    hashed = password_hash(session, user.id) if user is not None else None
    ok = verify_secret(hashed, password)
    if user is None or not ok or not user.active:
        client = request.client.host if request.client else "unknown"
        audit.append(
            session, "anonymous", "auth.login_failed", f"user:{username[:100]}", {"ip": client}
        )
        session.commit()
        raise HTTPException(401, "wrong username or password", {"WWW-Authenticate": "Bearer"})
    return user


@router.post(
    "/auth/token",
    summary="OAuth2 password flow: a short-lived bearer token",
    dependencies=[Depends(rate_limited("login"))],
)
def token(
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    user = _authenticate(session, request, form.username, form.password)
    value, _claims = tokens.issue(request.app.state.config.secret_key, user.id, user.username)
    audit.append(session, f"user:{user.username}", "auth.token", f"user:{user.username}", {})
    session.commit()
    return {
        "access_token": value,
        "token_type": "bearer",
        "expires_in": int(tokens.ACCESS_TTL.total_seconds()),
    }


@router.post(
    "/auth/login",
    summary="Console login: sets the session cookie and returns its CSRF token",
    dependencies=[Depends(rate_limited("login"))],
)
def login(
    body: LoginBody, request: Request, response: Response, session: Session = Depends(db_session)
) -> dict[str, Any]:
    user = _authenticate(session, request, body.username, body.password)
    config = request.app.state.config
    value, claims = tokens.issue(config.secret_key, user.id, user.username, kind="session")
    audit.append(session, f"user:{user.username}", "auth.login", f"user:{user.username}", {})
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(tokens.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=config.secure_cookies,
        path="/",
    )
    return {"csrf_token": claims.csrf, "user": user_view(user)}


@router.post("/auth/logout", summary="Console logout: clears the session cookie")
def logout(response: Response) -> dict[str, str]:
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"status": "logged out"}


@router.get("/auth/me", summary="The logged-in user (and, for a console session, its CSRF token)")
def me(request: Request, user: Principal = Depends(current_user)) -> dict[str, Any]:
    csrf = None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            csrf = tokens.verify(request.app.state.config.secret_key, cookie, "session").csrf
        except AuthError:
            csrf = None
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "department": user.department_id,
        "csrf_token": csrf,
    }


@router.get("/users", summary="Users (administrators: all; supervisors: their department)")
def list_users(
    user: Principal = Depends(require(ADMIN, SUPERVISOR)), session: Session = Depends(db_session)
) -> dict[str, Any]:
    query = select(User).order_by(User.id)
    if not user.all_departments:
        query = query.where(User.department_id == user.department_id)
    items = [user_view(u) for u in session.scalars(query)]
    return {"total": len(items), "items": items}


@router.post("/users", status_code=201, summary="Create a user with a password (administrators)")
def add_user(
    body: NewUser, user: Principal = Depends(require(ADMIN)), session: Session = Depends(db_session)
) -> dict[str, Any]:
    try:
        created = create_user(
            session,
            body.username,
            body.name,
            body.role,
            body.department,
            credential_no=body.credential_no,
            actor=user.actor,
        )
        set_password(session, created, body.password)
    except (CasesError, AuthError) as exc:
        session.rollback()
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return user_view(created)
