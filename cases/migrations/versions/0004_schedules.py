"""Automated patrol tables: schedules, their runs and preflight gate results, fleet sortie events.

Revision ID: 0004_schedules
Revises: 0003_gateway
Create Date: 2026-11-28 01:50:00
"""

from __future__ import annotations

revision = "0004_schedules"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reserved in the revision chain so that parallel work lands in a fixed order;
    # the tables are added by the change that introduces their models.
    pass


def downgrade() -> None:
    pass
