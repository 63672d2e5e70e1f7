"""Sign-outs keep a snapshot of their participants and how each is told.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signouts") as batch:
        batch.add_column(sa.Column("participants", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signouts") as batch:
        batch.drop_column("participants")
