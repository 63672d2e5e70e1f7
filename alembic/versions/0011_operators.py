"""Operators: a user may be granted the operator role, which opens the console (``/console/``), and
the console reads the last hours of notifications and the newest sign-outs by their creation time.

Expand only: one new column with a default, two indexes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_backchannel_deliveries_created_at", "backchannel_deliveries", ["created_at"])
    op.create_index("ix_signouts_created_at", "signouts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_signouts_created_at", "signouts")
    op.drop_index("ix_backchannel_deliveries_created_at", "backchannel_deliveries")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("operator")
