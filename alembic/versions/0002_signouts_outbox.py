"""signouts and backchannel outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "backchannel_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signout_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("initiating", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("given_up_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backchannel_deliveries")),
    )
    with op.batch_alter_table("backchannel_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backchannel_deliveries_client_id"), ["client_id"], unique=False)
        batch_op.create_index("ix_backchannel_deliveries_due", ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_backchannel_deliveries_signout_id"), ["signout_id"], unique=False)

    op.create_table(
        "signouts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("initiating_client_id", sa.String(length=200), nullable=True),
        sa.Column("post_logout_redirect_uri", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signouts")),
    )
    with op.batch_alter_table("signouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signouts_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_signouts_sid"), ["sid"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("signouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signouts_sid"))
        batch_op.drop_index(batch_op.f("ix_signouts_expires_at"))

    op.drop_table("signouts")
    with op.batch_alter_table("backchannel_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backchannel_deliveries_signout_id"))
        batch_op.drop_index("ix_backchannel_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_backchannel_deliveries_client_id"))

    op.drop_table("backchannel_deliveries")
