"""Dynamic Client Registration (RFC 7591) and its management (RFC 7592): the clients' registration
metadata, an operator's ``disabled`` switch, initial access tokens, and each HTTP-registered
client's registration access token (a hash).

Expand only: new tables, and new columns that are nullable or have a default.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("application_type", sa.String(10), nullable=False, server_default="web"))
        batch.add_column(sa.Column("contacts", sa.JSON(), nullable=True))
        for name in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "registration_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "client_registrations",
        sa.Column(
            "client_id",
            sa.String(200),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE", name="fk_client_registrations_client_id_clients"),
            primary_key=True,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("registration_token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("client_registrations")
    op.drop_table("registration_tokens")
    with op.batch_alter_table("clients") as batch:
        for name in ("disabled", "tos_uri", "policy_uri", "logo_uri", "client_uri", "contacts", "application_type"):
            batch.drop_column(name)
