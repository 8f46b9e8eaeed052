"""Users of the case record: named people with one role and, for officers, a credential."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import journal
from cases.config import ROLES
from cases.errors import CasesError
from cases.models import Department, User

__all__ = ["create_user", "find_user"]


def create_user(
    session: Session,
    username: str,
    name: str,
    role: str,
    department: str | None = None,
    credential_no: str | None = None,
    credential_valid_until: date | None = None,
    actor: str = "system:admin",
) -> User:
    """Create a user; inspectors and heads need an enforcement credential to act (Art. 42)."""
    if role not in ROLES:
        raise CasesError(f"role {role!r} is unknown; use one of {list(ROLES)}")
    if not username or not name:
        raise CasesError("username and name are required: every act is taken by a named person")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise CasesError(f"username {username!r} already exists; choose another")
    if department is not None and session.get(Department, department) is None:
        raise CasesError(f"department {department!r} does not exist; create it first")
    user = User(
        username=username,
        name=name,
        role=role,
        department_id=department,
        credential_no=credential_no,
        credential_valid_until=credential_valid_until,
        active=True,
    )
    session.add(user)
    session.flush()
    journal.record(
        session,
        actor,
        "user.created",
        f"user:{username}",
        {"name": name, "role": role, "department": department, "credential_no": credential_no},
    )
    return user


def find_user(session: Session, username: str) -> User:
    """The user named ``username``."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise CasesError(f"user {username!r} not found")
    return user
