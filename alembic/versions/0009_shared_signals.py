"""Shared Signals and Global Token Revocation: streams, the SET outbox, clients' granted scopes,
access tokens of a client acting for itself, and the cause (``txn``) of each sign-out.

Expand only: new tables and nullable or defaulted columns, so the previous release keeps running
against this schema (it never reads them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("next_attempt_at IS NOT NULL")
WAITING = sa.text("delivered_at IS NULL AND given_up_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("all_subjects", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("access_tokens") as batch:
        batch.alter_column("sid", existing_type=sa.String(64), nullable=True)
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("code_hash", existing_type=sa.String(64), nullable=True)
    op.add_column("signouts", sa.Column("txn", sa.String(64), nullable=True))
    op.add_column("backchannel_deliveries", sa.Column("txn", sa.String(64), nullable=True))
    op.create_table(
        "ssf_streams",
        sa.Column("stream_id", sa.String(64), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(200),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE", name="fk_ssf_streams_client_id_clients"),
            nullable=False,
        ),
        sa.Column("delivery_method", sa.String(40), nullable=False),
        sa.Column("endpoint_url", sa.Text(), nullable=True),
        sa.Column("authorization_header", sa.Text(), nullable=True),
        sa.Column("events_requested", sa.JSON(), nullable=True),
        sa.Column("events_delivered", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("subject_format", sa.String(20), nullable=False, server_default="iss_sub"),
        sa.Column("status", sa.String(20), nullable=False, server_default="enabled"),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("verification_requested_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_ssf_streams_client_id", "ssf_streams", ["client_id"])
    op.create_table(
        "ssf_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "stream_id",
            sa.String(64),
            sa.ForeignKey("ssf_streams.stream_id", ondelete="CASCADE", name="fk_ssf_events_stream_id_ssf_streams"),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("txn", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(10), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("given_up_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_ssf_events_stream_id", "ssf_events", ["stream_id"])
    op.create_index("ix_ssf_events_txn", "ssf_events", ["txn"])
    op.create_index(
        "ix_ssf_events_due", "ssf_events", ["next_attempt_at", "id"], postgresql_where=PENDING, sqlite_where=PENDING
    )
    op.create_index(
        "ix_ssf_events_waiting", "ssf_events", ["stream_id", "id"], postgresql_where=WAITING, sqlite_where=WAITING
    )


def downgrade() -> None:
    op.drop_table("ssf_events")
    op.drop_table("ssf_streams")
    op.drop_column("backchannel_deliveries", "txn")
    op.drop_column("signouts", "txn")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("all_subjects")
        batch.drop_column("scopes")
