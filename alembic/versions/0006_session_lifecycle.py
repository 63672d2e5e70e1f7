"""Session lifecycle: device and address of each session, its browser-state hash, why it ended;
disabled users; the reason on every outbox row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sso_sessions") as batch:
        batch.add_column(sa.Column("user_agent", sa.String(length=400), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("browser_state_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("ended_reason", sa.String(length=20), nullable=True))
        batch.create_index(batch.f("ix_sso_sessions_browser_state_hash"), ["browser_state_hash"])
        batch.create_index(batch.f("ix_sso_sessions_last_active_at"), ["last_active_at"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("backchannel_deliveries") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=20), nullable=False, server_default="user"))


def downgrade() -> None:
    with op.batch_alter_table("backchannel_deliveries") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("sso_sessions") as batch:
        batch.drop_index(batch.f("ix_sso_sessions_last_active_at"))
        batch.drop_index(batch.f("ix_sso_sessions_browser_state_hash"))
        batch.drop_column("ended_reason")
        batch.drop_column("browser_state_hash")
        batch.drop_column("ip")
        batch.drop_column("user_agent")
