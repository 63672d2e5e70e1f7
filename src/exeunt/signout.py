"""Ending an SSO session: the one call every way a session ends goes through.

In one transaction the session is marked ended, everything it issued is revoked, a ``signouts``
row records a snapshot of its participants and how each is told, and one outbox row is queued per
participant with a back-channel URI (the initiating client first).  After the commit the delivery
worker is woken and the sign-out counted by reason.  ``sign_out`` and its siblings open that
transaction themselves; a write that *causes* sign-outs (a password change, a disabled user, a
new sign-in) opens ``signing_out`` and does its own write on ``tx.conn``, so both commit or
neither does.  Callers only set cookies and render.  Nothing here talks to a client.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from exeunt import metrics, signals
from exeunt.lifecycle import EndReason
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.logout import frontchannel_url
from exeunt.runtime import LOGOUT_TOKENS, SECURITY_EVENTS, Handoff, Runtime
from exeunt.security import new_token
from exeunt.storage import grants, outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import signouts as signout_store
from exeunt.storage.database import Connection
from exeunt.storage.outbox import DeliveryRecord
from exeunt.storage.signouts import Participant, SignoutRecord
from exeunt.storage.users import UserRecord

__all__ = [
    "EndReason",
    "Ended",
    "EndedSession",
    "SignOuts",
    "end_overdue",
    "sign_out",
    "sign_out_many",
    "sign_out_user",
    "signing_out",
]
log = logging.getLogger("exeunt.signout")
SIGNOUT_PAGE_LIFETIME = timedelta(minutes=15)
ENDS_OFFLINE_TOKENS = frozenset(
    {EndReason.OTHER_DEVICE, EndReason.ADMIN, EndReason.PASSWORD_CHANGED, EndReason.USER_REMOVED, EndReason.REVOKED}
)


@dataclass(frozen=True)
class EndedSession:
    signout: SignoutRecord
    notifications: int  # back-channel outbox rows queued


@dataclass(frozen=True)
class Ended:
    """What ending sessions did: how many ended and how many notifications were queued."""

    sessions: list[EndedSession]

    @property
    def notifications(self) -> int:
        return sum(e.notifications for e in self.sessions)


@dataclass(frozen=True)
class _Ending:
    """One session to end, why, and what the RP-initiated sign-out asked for (if it was one)."""

    sid: str
    reason: EndReason
    initiator: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    entity: str | None = None  # CAEP initiating_entity, where the reason alone does not say


class SignOuts:
    """Sign-outs written inside one transaction, that of the write that caused them (a password
    change, a disabled user, a new sign-in replacing a session): both commit, or neither does.

    Open it with ``signing_out(runtime)``; ``conn`` is the transaction's connection, for the
    caller's own writes.  What ended is in ``ended``; after the commit the worker is woken and each
    sign-out counted (nothing is reported for a transaction that rolled back)."""

    def __init__(self, runtime: Runtime, conn: Connection, txn: str | None = None) -> None:
        self.runtime = runtime
        self.conn = conn
        self.now = runtime.clock.now()
        self.txn = txn  # one cause for every session this transaction ends (else each its own)
        self.ended: list[EndedSession] = []
        self.queued = 0  # outbox rows written in this transaction (logout tokens and SETs)
        self.outboxes: set[str] = set()  # ... and which outboxes they are in
        # Logout-token rows written leased to this process's worker, handed to it after the commit.
        self.handed: list[DeliveryRecord] = []
        self.clients: dict[str, ClientRecord] = {}

    async def end(
        self,
        sid: str,
        reason: EndReason,
        *,
        initiator: str | None = None,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
    ) -> EndedSession | None:
        """End session ``sid``.  None when it had ended already (another request, tab or process got
        there first): nothing is recorded or sent twice."""
        ended = await self._end([_Ending(sid, reason, initiator, post_logout_redirect_uri, state)])
        return ended[0] if ended else None

    async def end_many(self, sids: Sequence[str], reason: EndReason) -> list[EndedSession]:
        """End a batch of sessions (an operator's batch); those already ended are skipped."""
        return await self._end([_Ending(sid, reason) for sid in sids])

    async def end_user(
        self, user_id: int, reason: EndReason, *, keep_sid: str | None = None, entity: str | None = None
    ) -> list[EndedSession]:
        """End every live session of a user but ``keep_sid`` (the browser asking)."""
        if reason in ENDS_OFFLINE_TOKENS:
            # Offline refresh tokens outlive the browser's sign-out, not these: every grant of the user
            # but the asking browser's session-bound ones ends (sessions that ended earlier included).
            await grants.revoke_refresh_of_user(self.conn, user_id, self.now, except_sid=keep_sid)
        live = await session_store.of_user(self.conn, user_id, live_at=self.now)
        return await self._end([_Ending(s.sid, reason, entity=entity) for s in live if s.sid != keep_sid])

    async def credential_changed(self, user: UserRecord, *, by_owner: bool) -> None:
        """The person's password was set (by them, or an operator): CAEP credential-change, with this
        transaction's cause as ``txn``."""
        events = await signals.credential_changed(
            self.conn,
            user_id=user.id,
            sub=user.sub,
            email=user.email,
            by_owner=by_owner,
            txn=self.txn or new_token(16),
            issuer=self.runtime.config.issuer,
            now=self.now,
        )
        self.queued += events
        if events:
            self.outboxes.add(SECURITY_EVENTS)

    async def end_overdue(self, *, limit: int) -> list[EndedSession]:
        """End up to ``limit`` sessions past their absolute or idle deadline (the sweeper's batch),
        claimed and ended together, so no two sweepers end the same one."""
        idle = self.runtime.config.session_idle_timeout
        due = await session_store.claim_overdue(self.conn, now=self.now, idle_timeout=idle, limit=limit)
        return await self._end([_Ending(s.sid, s.overdue(self.now, idle) or EndReason.EXPIRED) for s in due])

    async def _end(self, endings: list[_Ending]) -> list[EndedSession]:
        handoff = self.runtime.handoff
        ended, signals_queued, handed = await _end(
            self.conn,
            endings,
            issuer=self.runtime.config.issuer,
            now=self.now,
            txn=self.txn,
            handoff=handoff if handoff is not None and not self.handed else None,
            handed_clients=self.clients,
        )
        self.ended += ended
        self.handed += handed
        notifications = sum(e.notifications for e in ended)
        self.queued += notifications + signals_queued
        if notifications > len(handed):
            self.outboxes.add(LOGOUT_TOKENS)
        if signals_queued:
            self.outboxes.add(SECURITY_EVENTS)
        return ended

    def committed(self) -> None:
        """After the commit: count and log by reason, and wake this process's worker (others hear NOTIFY)."""
        for e in self.ended:
            metrics.signouts.labels(e.signout.reason).inc()
            log.info(
                "session ended sid=%s reason=%s notifications=%d", e.signout.sid, e.signout.reason, e.notifications
            )
        handoff = self.runtime.handoff
        if self.handed and handoff is not None:
            handoff.accept(self.handed, self.clients)
        elif self.handed:  # the worker stopped meanwhile: its lease runs out, and another claims them
            log.warning("%d logout tokens wait for their lease to run out: the worker stopped", len(self.handed))
        if self.outboxes:
            self.runtime.outbox_changed(frozenset(self.outboxes))


@contextlib.asynccontextmanager
async def signing_out(runtime: Runtime, *, txn: str | None = None) -> AsyncIterator[SignOuts]:
    """One write transaction in which sessions end (with whatever else the caller writes).  ``txn``
    names the one cause of every session it ends (a password change, a revocation)."""
    async with runtime.db.write() as conn:
        tx = SignOuts(runtime, conn, txn)
        yield tx
        if tx.outboxes:  # rows handed to this process's worker need no other worker
            await outbox.notify_workers(conn, frozenset(tx.outboxes))  # on PostgreSQL, when this commits
    tx.committed()


async def sign_out(
    runtime: Runtime,
    sid: str,
    reason: EndReason,
    *,
    initiator: str | None = None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> EndedSession | None:
    """End session ``sid`` in a transaction of its own (see ``SignOuts.end``)."""
    async with signing_out(runtime) as tx:
        return await tx.end(
            sid, reason, initiator=initiator, post_logout_redirect_uri=post_logout_redirect_uri, state=state
        )


async def sign_out_many(runtime: Runtime, sids: Sequence[str], reason: EndReason) -> list[EndedSession]:
    """End a batch of sessions in one transaction of its own (see ``SignOuts.end_many``)."""
    async with signing_out(runtime) as tx:
        return await tx.end_many(sids, reason)


async def sign_out_user(
    runtime: Runtime, user_id: int, reason: EndReason, *, keep_sid: str | None = None
) -> list[EndedSession]:
    """End every live session of a user in one transaction of its own (see ``SignOuts.end_user``)."""
    async with signing_out(runtime) as tx:
        return await tx.end_user(user_id, reason, keep_sid=keep_sid)


async def end_overdue(runtime: Runtime, *, limit: int) -> list[EndedSession]:
    """The sweeper's batch in one transaction of its own (see ``SignOuts.end_overdue``): a crash ends
    none of them."""
    async with signing_out(runtime) as tx:
        return await tx.end_overdue(limit=limit)


async def _end(
    conn: Connection,
    endings: list[_Ending],
    *,
    issuer: str,
    now: datetime,
    txn: str | None,
    handoff: Handoff | None = None,
    handed_clients: dict[str, ClientRecord] | None = None,
) -> tuple[list[EndedSession], int, list[DeliveryRecord]]:
    """End a batch of sessions with a handful of set-based statements (a sweep of 200 sessions costs
    about what one costs); those already ended are skipped.  Returns them, the SETs queued, and the
    logout-token rows written leased to ``handoff`` (when it has room for all of them; their clients
    are added to ``handed_clients``)."""
    by_sid = {e.sid: e for e in endings}
    sessions = await session_store.end_many(conn, {e.sid: e.reason.value for e in endings}, now)
    if not sessions:
        return [], 0, []
    sids = [s.sid for s in sessions]
    await grants.revoke_tokens_of_sessions(conn, sids, now)
    # BCL §2.7: refresh tokens without offline_access end with the session; offline ones too when
    # the person or an operator ends this device's access, not when the browser merely signs out.
    await grants.revoke_refresh_of_sessions(
        conn,
        [s for s in sids if by_sid[s].reason not in ENDS_OFFLINE_TOKENS],
        [s for s in sids if by_sid[s].reason in ENDS_OFFLINE_TOKENS],
        now,
    )
    taking_part = await session_store.participants_of(conn, sids)
    ended: list[EndedSession] = []
    signouts: list[SignoutRecord] = []
    targets: list[tuple[SignoutRecord, list[tuple[str, str]]]] = []
    heard: list[signals.SessionEnd] = []
    for session in sessions:
        ending = by_sid[session.sid]
        # The initiating client first: the browser waits for its delivery before the redirect.
        clients = sorted(taking_part.get(session.sid, []), key=lambda c: c.client_id != ending.initiator)
        signout_id = new_token(32)
        signout = SignoutRecord(
            id=signout_id,
            sid=session.sid,
            sub=session.sub,
            reason=ending.reason.value,
            initiating_client_id=ending.initiator,
            post_logout_redirect_uri=ending.post_logout_redirect_uri,
            state=ending.state,
            created_at=now,
            expires_at=now + SIGNOUT_PAGE_LIFETIME,
            participants=tuple(_participant(c, issuer, session.sid) for c in clients),
            txn=txn or signout_id,
        )
        heard.append(
            signals.SessionEnd(
                sid=session.sid,
                sub=session.sub,
                user_id=session.user_id,
                reason=ending.reason,
                entity=ending.entity,
                txn=txn or signout_id,
                participants=[c.client_id for c in clients],
            )
        )
        told = [(c.client_id, c.backchannel_logout_uri) for c in clients if c.backchannel_logout_uri]
        signouts.append(signout)
        targets.append((signout, told))
        ended.append(EndedSession(signout, notifications=len(told)))
    await signout_store.add_many(conn, signouts)
    rows = sum(len(told) for _, told in targets)
    leased_to = (handoff.owner, handoff.lease_until()) if handoff is not None and 0 < rows <= handoff.room() else None
    handed = await outbox.enqueue_many(conn, targets, now, leased_to=leased_to)
    if handed and handed_clients is not None:
        handed_clients.update((c.client_id, c) for taking in taking_part.values() for c in taking)
    return ended, await signals.session_revoked(conn, heard, issuer=issuer, now=now), handed


def _participant(client: ClientRecord, issuer: str, sid: str) -> Participant:
    return Participant(
        client_id=client.client_id,
        name=client.name,
        frontchannel_url=frontchannel_url(client, issuer, sid),
        backchannel=client.backchannel_logout_uri is not None,
    )
