"""Alembic environment: always handed a live connection by ``exeunt.storage.migrations``."""

from __future__ import annotations

from alembic import context

from exeunt.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations with `exeunt migrate`, which passes the configured database to Alembic.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
