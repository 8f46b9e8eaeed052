"""Gateway's own tables (credentials, party access, complaints, webhooks, ...), under Alembic,
and the evidence index its department list pages by (site, newest first).

The models are ``gateway.models`` (their own ``GatewayBase`` metadata, since ``cases`` may not
import ``gateway``); tests/cases/test_migrations.py compares this revision with them.

Revision ID: 0003_gateway
Revises: 0002_audit
Create Date: 2026-11-28 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_gateway"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

TABLES = (
    "gateway_credentials",
    "gateway_party_access",
    "gateway_party_submissions",
    "gateway_complaints",
    "gateway_webhooks",
)


def _tables() -> list[sa.Table]:
    meta = sa.MetaData()
    when = sa.DateTime(timezone=True)
    return [
        sa.Table(
            "gateway_credentials",
            meta,
            sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("password_hash", sa.String(length=200), nullable=False),
            sa.Column("updated_at", when, nullable=False),
            sa.PrimaryKeyConstraint("user_id"),
        ),
        sa.Table(
            "gateway_party_access",
            meta,
            sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("code_hash", sa.String(length=200), nullable=False),
            sa.Column("created_at", when, nullable=False),
            sa.PrimaryKeyConstraint("case_id"),
        ),
        sa.Table(
            "gateway_party_submissions",
            meta,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("case_id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("received_at", when, nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_gateway_party_submissions_case_id", "case_id"),
        ),
        sa.Table(
            "gateway_complaints",
            meta,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("received_at", when, nullable=False),
            sa.Column("lon", sa.Float(), nullable=False),
            sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("contact", sa.String(length=200), nullable=True),
            sa.Column("media", sa.JSON(), nullable=False),
            sa.Column("site_id", sa.String(length=100), nullable=True),
            sa.Column("mission_id", sa.String(length=100), nullable=True),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ),
        sa.Table(
            "gateway_webhooks",
            meta,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("url", sa.String(length=500), nullable=False),
            sa.Column("secret", sa.String(length=200), nullable=False),
            sa.Column("events", sa.JSON(), nullable=False),
            sa.Column("department_id", sa.String(length=32), nullable=True),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.Column("created_at", when, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in _tables():
        # Gateways before this revision created these tables themselves at start-up
        # (create_all); such a database keeps its rows and is simply adopted.
        if table.name not in existing:
            table.create(bind)
    op.create_index(
        "ix_evidence_site_captured", "evidence", ["site_id", "captured_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_evidence_site_captured", table_name="evidence")
    for name in reversed(TABLES):
        op.drop_table(name)
