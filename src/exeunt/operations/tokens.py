"""Access and refresh tokens: counts per client (never values), and revoking a user's."""

from __future__ import annotations

from datetime import datetime

from exeunt.operations.accounts import user_named
from exeunt.storage import grants
from exeunt.storage.database import Database


async def token_counts(
    db: Database, *, now: datetime, username: str | None = None, client_id: str | None = None
) -> list[grants.TokenCounts]:
    """Live tokens per client, counted (never shown)."""
    async with db.read() as conn:
        user_id = (await user_named(conn, username)).id if username else None
        return await grants.counts(conn, now=now, user_id=user_id, client_id=client_id)


async def revoke_tokens(db: Database, username: str, *, client_id: str | None, now: datetime) -> tuple[int, int]:
    """Revoke a user's refresh-token grants (offline ones too) and access tokens, of one client or all.
    Returns (grants, access tokens) revoked.  Sessions stay; `exeunt sessions end` ends those."""
    async with db.write() as conn:
        user = await user_named(conn, username)
        families = await grants.revoke_refresh_of_user(conn, user.id, now, client_id=client_id)
        access = await grants.revoke_access_tokens_of_user(conn, user.id, now, client_id=client_id)
    return families, access
