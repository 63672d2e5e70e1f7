"""Ending an SSO session: the one call every way a session ends goes through.

``sign_out`` opens the transaction; in it the session is marked ended, everything it issued is
revoked, a ``signouts`` row records a snapshot of its participants and how each is told, and one
outbox row is queued per participant with a back-channel URI (the initiating client first).
After the commit it wakes the delivery worker and counts the sign-out by reason.  Callers only
set cookies and render.  Nothing here talks to a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from exeunt import metrics
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.logout import frontchannel_url
from exeunt.runtime import Runtime
from exeunt.security import new_token
from exeunt.storage import grants, outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import signouts as signout_store
from exeunt.storage.database import Connection
from exeunt.storage.signouts import Participant, SignoutRecord

SIGNOUT_PAGE_LIFETIME = timedelta(minutes=15)


class EndReason(StrEnum):
    """Why a session ended: recorded on the sign-out, counted in ``exeunt_signouts_total{reason}``."""

    USER = "user"  # the person signed out at the provider (RP-initiated or not)
    REPLACED = "replaced"  # a new sign-in in the same browser
    EXPIRED = "expired"
    IDLE = "idle"
    OTHER_DEVICE = "other_device"
    ADMIN = "admin"
    PASSWORD_CHANGED = "password_changed"
    USER_REMOVED = "user_removed"


@dataclass(frozen=True)
class EndedSession:
    signout: SignoutRecord
    notifications: int  # back-channel outbox rows queued


@dataclass(frozen=True)
class _Ending:
    """One session to end, with what the RP-initiated sign-out asked for (if it was one)."""

    sid: str
    initiator: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None


async def sign_out(
    runtime: Runtime,
    sid: str,
    reason: EndReason,
    *,
    initiator: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> EndedSession | None:
    """End session ``sid`` in one transaction.  None when it had ended already (another request, tab
    or process got there first): nothing is recorded or sent twice."""
    ended = await _end_all(runtime, reason, [_Ending(sid, initiator, post_logout_redirect_uri, state)])
    return ended[0] if ended else None


async def sign_out_many(runtime: Runtime, sids: Sequence[str], reason: EndReason) -> list[EndedSession]:
    """End a batch of sessions in one transaction (an operator's or a sweeper's batch); each as
    ``sign_out`` would, those already ended skipped."""
    return await _end_all(runtime, reason, [_Ending(sid) for sid in sids])


async def _end_all(runtime: Runtime, reason: EndReason, endings: list[_Ending]) -> list[EndedSession]:
    now = runtime.clock.now()
    ended: list[EndedSession] = []
    async with runtime.db.write() as conn:
        for ending in endings:
            one = await _end(conn, ending, reason, issuer=runtime.config.issuer, now=now)
            if one is not None:
                ended.append(one)
    # After the commit: count, and wake this process's worker (other processes hear NOTIFY).
    if ended:
        metrics.signouts.labels(reason.value).inc(len(ended))
    if any(e.notifications for e in ended):
        runtime.outbox_changed()
    return ended


async def _end(
    conn: Connection, ending: _Ending, reason: EndReason, *, issuer: str, now: datetime
) -> EndedSession | None:
    sid, initiator = ending.sid, ending.initiator
    session = await session_store.end(conn, sid, now)
    if session is None:
        return None
    await grants.revoke_tokens_of_session(conn, sid, now)
    # The initiating client first: the browser waits for its delivery before the redirect.
    clients = sorted(await session_store.participants(conn, sid), key=lambda c: c.client_id != initiator)
    signout = SignoutRecord(
        id=new_token(32),
        sid=sid,
        sub=session.sub,
        reason=reason.value,
        initiating_client_id=initiator,
        post_logout_redirect_uri=ending.post_logout_redirect_uri,
        state=ending.state,
        created_at=now,
        expires_at=now + SIGNOUT_PAGE_LIFETIME,
        participants=tuple(_participant(c, issuer, sid) for c in clients),
    )
    await signout_store.add(conn, signout)
    targets = [(c.client_id, c.backchannel_logout_uri) for c in clients if c.backchannel_logout_uri]
    if targets:
        await outbox.enqueue(conn, signout, targets, now)
    return EndedSession(signout, notifications=len(targets))


def _participant(client: ClientRecord, issuer: str, sid: str) -> Participant:
    return Participant(
        client_id=client.client_id,
        name=client.name,
        frontchannel_url=frontchannel_url(client, issuer, sid),
        backchannel=client.backchannel_logout_uri is not None,
    )
