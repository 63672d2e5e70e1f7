"""Shared Signals events, written in the transaction of what caused them: a session's end
(``session_revoked``, called by ``signout.py`` for every ending, whatever its reason), a password
set (``credential_changed``), a receiver's verification request and an operator's change of a
stream's status.  The worker pushes them (``delivery/security_events.py``) or the receiver polls
them (``web/endpoints/ssf.py``).

Who hears what: a stream hears about a person only if that person signed in to the stream's own
client (for a session's end: took part in that session), unless an operator registered the
client for all subjects (a security tool).  Never about anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exeunt.catalogs import in_every_language
from exeunt.lifecycle import EndReason
from exeunt.protocol import signals
from exeunt.storage import security_events
from exeunt.storage import sessions as session_store
from exeunt.storage import streams as stream_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection
from exeunt.storage.security_events import NewEvent
from exeunt.storage.streams import StreamRecord


@dataclass(frozen=True)
class SessionEnd:
    """One ended session, as its SETs describe it."""

    sid: str
    sub: str
    user_id: int
    reason: EndReason
    entity: str | None  # initiating_entity when the reason alone does not say (an operator's password)
    txn: str
    participants: Sequence[str]  # client ids that took part in the session


def _event(
    stream: StreamRecord,
    *,
    issuer: str,
    now: datetime,
    txn: str | None,
    sid: str | None,
    event_type: str,
    subject: dict[str, object],
    event: dict[str, object],
) -> NewEvent:
    jti = uuid.uuid4().hex
    claims = signals.set_claims(
        issuer=issuer,
        audience=stream.client_id,
        jti=jti,
        issued_at=now,
        txn=txn,
        subject=subject,
        event_type=event_type,
        event=event,
    )
    return NewEvent(
        stream_id=stream.stream_id,
        client_id=stream.client_id,
        method=stream.delivery_method,
        endpoint_url=stream.endpoint_url,
        paused=stream.status == "paused",
        jti=jti,
        txn=txn,
        event_type=signals.SHORT_NAMES[event_type],
        sid=sid,
        claims=claims,
    )


async def _emails(conn: Connection, streams: list[StreamRecord], user_ids: list[int]) -> dict[int, str | None]:
    if not any(s.subject_format == "email" for s in streams):
        return {}
    return await user_store.emails_of(conn, sorted(set(user_ids)))


async def session_revoked(conn: Connection, ends: list[SessionEnd], *, issuer: str, now: datetime) -> int:
    """CAEP session-revoked for each ended session, to each stream that may hear of it.  One query
    finds the streams of a whole batch (a sweep of 200 sessions costs about what one costs)."""
    if not ends:
        return 0
    hearing = await stream_store.hearing(conn, sorted({c for e in ends for c in e.participants}))
    hearing = [(s, everyone) for s, everyone in hearing if signals.SESSION_REVOKED in s.events_delivered]
    if not hearing:
        return 0
    emails = await _emails(conn, [s for s, _ in hearing], [e.user_id for e in ends])
    new = []
    for end in ends:
        for stream, everyone in hearing:
            if not everyone and stream.client_id not in end.participants:
                continue  # a receiver hears only of sessions its own client took part in
            subject = signals.subject_of(
                stream.subject_format, issuer=issuer, sub=end.sub, email=emails.get(end.user_id), sid=end.sid
            )
            event = signals.session_revoked(end.reason, at=now, entity=end.entity, say=in_every_language)
            new.append(
                _event(
                    stream,
                    issuer=issuer,
                    now=now,
                    txn=end.txn,
                    sid=end.sid,
                    event_type=signals.SESSION_REVOKED,
                    subject=subject,
                    event=event,
                )
            )
    await security_events.enqueue_many(conn, new, now)
    return len(new)


async def credential_changed(
    conn: Connection, *, user_id: int, sub: str, email: str | None, by_owner: bool, txn: str, issuer: str, now: datetime
) -> int:
    """CAEP credential-change (a password) to each stream whose client the person ever used."""
    used = await session_store.clients_of_user(conn, user_id)
    hearing = await stream_store.hearing(conn, used)
    new = [
        _event(
            stream,
            issuer=issuer,
            now=now,
            txn=txn,
            sid=None,
            event_type=signals.CREDENTIAL_CHANGE,
            subject=signals.subject_of(stream.subject_format, issuer=issuer, sub=sub, email=email),
            event=signals.credential_change(at=now, by_owner=by_owner, say=in_every_language),
        )
        for stream, everyone in hearing
        if signals.CREDENTIAL_CHANGE in stream.events_delivered and (everyone or stream.client_id in used)
    ]
    await security_events.enqueue_many(conn, new, now)
    return len(new)


async def verification(
    conn: Connection, stream: StreamRecord, state: str | None, *, issuer: str, now: datetime
) -> None:
    """SSF §8.1.4: a verification event on the stream (held, like any other, while it is paused)."""
    await _about_the_stream(conn, stream, signals.VERIFICATION, signals.verification(state), issuer=issuer, now=now)


async def stream_updated(
    conn: Connection, stream: StreamRecord, status: str, reason: str | None, *, issuer: str, now: datetime
) -> None:
    """SSF §8.1.5: exeunt itself (an operator) changed the stream's status; sent whatever it is."""
    await _about_the_stream(
        conn, stream, signals.STREAM_UPDATED, signals.stream_updated(status, reason), issuer=issuer, now=now
    )


async def _about_the_stream(
    conn: Connection, stream: StreamRecord, event_type: str, event: dict[str, Any], *, issuer: str, now: datetime
) -> None:
    """An event whose subject is the stream itself (SSF §8.1: verification, stream-updated)."""
    made = _event(
        stream,
        issuer=issuer,
        now=now,
        txn=None,
        sid=None,
        event_type=event_type,
        subject=signals.stream_subject(stream.stream_id),
        event=event,
    )
    await security_events.enqueue_many(conn, [made], now)
