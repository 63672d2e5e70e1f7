"""Ending an SSO session: the one place that decides what a sign-out records.

In the caller's transaction it marks the session ended, revokes its access tokens, writes the
sign-out record (what the logged-out page shows) and one back-channel outbox row per
participating client that has a ``backchannel_logout_uri``.  Nothing here talks to a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.security import new_token
from exeunt.storage import clients as client_store
from exeunt.storage import deliveries as outbox
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage import signouts as signout_store
from exeunt.storage.clients import ClientRecord
from exeunt.storage.sessions import SessionRecord
from exeunt.storage.signouts import SignoutRecord

SIGNOUT_PAGE_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class EndedSession:
    signout: SignoutRecord
    participants: list[ClientRecord]  # in the order they joined the session
    notifications: int  # back-channel outbox rows written


async def end_session(
    conn: AsyncConnection,
    session: SessionRecord,
    *,
    now: datetime,
    reason: str = "user",
    initiating_client_id: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> EndedSession | None:
    """End ``session``.  Returns None when another request ended it first (nothing recorded twice)."""
    if not await session_store.mark_ended(conn, session.sid, now):
        return None
    await grants.revoke_tokens_of_session(conn, session.sid, now)
    taking_part = await session_store.participants(conn, session.sid)
    known = await client_store.get_many(conn, [p.client_id for p in taking_part])
    participants = [known[p.client_id] for p in taking_part if p.client_id in known]
    signout = SignoutRecord(
        id=new_token(32),
        sid=session.sid,
        sub=session.sub,
        reason=reason,
        initiating_client_id=initiating_client_id,
        post_logout_redirect_uri=post_logout_redirect_uri,
        state=state,
        created_at=now,
        expires_at=now + SIGNOUT_PAGE_LIFETIME,
    )
    await signout_store.add(conn, signout)
    # The initiating client first: the browser waits for its delivery before the redirect.
    ordered = sorted(participants, key=lambda c: c.client_id != initiating_client_id)
    targets = [(c.client_id, c.backchannel_logout_uri) for c in ordered if c.backchannel_logout_uri]
    await signout_store.enqueue_deliveries(conn, signout, targets, now)
    if targets:
        await outbox.notify_new_rows(conn)
    return EndedSession(signout, participants, notifications=len(targets))
