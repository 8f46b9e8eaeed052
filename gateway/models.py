"""The gateway's own tables: password credentials, party portal access codes and statements,
public complaints and webhook subscriptions.

They live on their own ``MetaData`` (``cases`` may not import ``gateway``, so its ``Base`` cannot
hold them) and are created by the migration ``cases/migrations/versions/0003_gateway.py``, like
every table; tests/cases/test_migrations.py checks that it matches these models. User and case
ids refer to ``users.id`` and ``cases.id`` by value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Engine, Float, Integer, String, Text, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cases.models import UTCDateTime, utcnow
from gateway.errors import GatewayError


class GatewayBase(DeclarativeBase):
    """Declarative base of the gateway's tables (separate metadata, see the module docstring)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Credential(GatewayBase):
    """The argon2 hash of a user's password (users themselves are ``cases.models.User``)."""

    __tablename__ = "gateway_credentials"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartyAccess(GatewayBase):
    """The access code (argon2 hash) a party uses with the case number in the party portal."""

    __tablename__ = "gateway_party_access"

    case_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartySubmission(GatewayBase):
    """A statement (陈述) or defence (申辩) a party submitted through the portal."""

    __tablename__ = "gateway_party_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "statement" | "defence"
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Complaint(GatewayBase):
    """A public complaint (投诉举报): a place, a description, photos; becomes a lead."""

    __tablename__ = "gateway_complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    # Personal data: kept for the follow-up, never returned by a public endpoint.
    contact: Mapped[str | None] = mapped_column(String(200))
    media: Mapped[list[Any]] = mapped_column(JSON, default=list)
    site_id: Mapped[str | None] = mapped_column(String(100))
    mission_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="received")


class Webhook(GatewayBase):
    """A URL that receives HMAC-signed notifications of the named events."""

    __tablename__ = "gateway_webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    department_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def check_schema(engine: Engine) -> None:
    """Refuse a database the migrations have not brought up to the gateway's tables."""
    missing = sorted(set(GatewayBase.metadata.tables) - set(inspect(engine).get_table_names()))
    if missing:
        raise GatewayError(
            f"database {engine.url.render_as_string(hide_password=True)} lacks the gateway "
            f"tables {', '.join(missing)}: run its migrations first (`patrol gateway serve` "
            "does, or cases.db.upgrade(url))"
        )
