"""Gateway's own tables (credentials, party access, complaints, webhooks, ...), under Alembic.

Revision ID: 0003_gateway
Revises: 0002_audit
Create Date: 2026-11-28 01:50:00
"""

from __future__ import annotations

revision = "0003_gateway"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reserved in the revision chain so that parallel work lands in a fixed order;
    # the tables are added by the change that introduces their models.
    pass


def downgrade() -> None:
    pass
