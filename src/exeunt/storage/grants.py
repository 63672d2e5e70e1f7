"""Authorization codes and the access tokens issued for them.

Codes and tokens are stored only as SHA-256 hashes; the plain values exist only on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage.models import AccessToken, AuthorizationCode, RefreshToken, UTCDateTime, table_of
from exeunt.storage.sessions import SessionRecord, sso_sessions
from exeunt.storage.throttle import counters

codes = table_of(AuthorizationCode)
tokens = table_of(AccessToken)
refresh = table_of(RefreshToken)


@dataclass(frozen=True)
class CodeRecord:
    code_hash: str
    client_id: str
    sid: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None


@dataclass(frozen=True)
class AccessTokenRecord:
    """A person's access token (``sid``, ``user_id``, ``code_hash`` set), or a client's own
    (client credentials: none of them)."""

    token_hash: str
    client_id: str
    sid: str | None
    user_id: int | None
    scope: str
    code_hash: str | None
    expires_at: datetime
    revoked_at: datetime | None
    family_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    family_id: str
    client_id: str
    sid: str
    user_id: int
    scope: str
    offline: bool
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


# Statements on the sign-in path are built once: building them per call costs more than running them.
_ADD_CODE = insert(codes)
_ADD_TOKEN = insert(tokens)
# Read by the statements that spend a code, so an exchange costs one statement before its token is
# stored: the session the code was issued in, and the latest lock among the client's guessing keys
# (read only: those tables are written by sessions.py and throttle.py alone).
# Named in full: in RETURNING, SQLAlchemy leaves the updated table's columns unqualified, and an
# unqualified "sid" inside the subquery would be the session's own (every session would match).
_code_session = sso_sessions.alias("code_session")
_SESSION_OF_CODE = literal_column(f"{_code_session.name}.sid") == literal_column(f"{codes.name}.sid")
_SESSION_FIELDS = ("user_id", "sub", "auth_time", "created_at", "last_active_at", "expires_at", "ended_at")
_LOCKED_UNTIL = (
    select(func.max(counters.c.locked_until))
    .where(counters.c.key.in_(bindparam("lock_keys", expanding=True)))
    .scalar_subquery()
    .label("locked_until")
)
_SPEND = (
    update(codes)
    .where(codes.c.code_hash == bindparam("b_code_hash"), codes.c.consumed_at.is_(None))
    .values(consumed_at=bindparam("now", type_=UTCDateTime()))
    .returning(
        *codes.c,
        *(
            select(_code_session.c[name]).where(_SESSION_OF_CODE).scalar_subquery().label(f"s_{name}")
            for name in _SESSION_FIELDS
        ),
        _LOCKED_UNTIL,
    )
)
_SPENT_ALREADY = select(codes, _LOCKED_UNTIL).where(codes.c.code_hash == bindparam("b_code_hash"))


async def add_code(conn: AsyncConnection, record: CodeRecord) -> None:
    await conn.execute(_ADD_CODE, [record.__dict__])


@dataclass(frozen=True)
class Spent:
    """What spending a code found: the code (None: unknown), whether this was its first use, on a
    first use the session it was issued in (None: that session is gone), and when the latest lock
    against guessing the client's secret ends (None: there is none)."""

    code: CodeRecord | None
    first_use: bool
    session: SessionRecord | None = None
    locked_until: datetime | None = None


async def consume_code(
    conn: AsyncConnection,
    code_hash: str,
    now: datetime,
    lock_keys: Sequence[str] = (),
) -> Spent:
    """Mark the code used, reading its session and the locks of ``lock_keys`` in the same statement.

    The conditional UPDATE makes single use hold even when two requests race with the same code.  A
    caller that refuses the exchange afterwards (a locked or wrong secret) rolls the spending back.
    """
    keys = list(lock_keys)
    values = {"b_code_hash": code_hash, "now": now, "lock_keys": keys}
    row = (await conn.execute(_SPEND, values)).first()
    if row is not None:
        fields = dict(row._mapping)
        facts = {name: fields.pop(f"s_{name}") for name in _SESSION_FIELDS}
        locked_until = fields.pop("locked_until")
        code = CodeRecord(**fields)
        session = SessionRecord(sid=code.sid, **facts) if facts["user_id"] is not None else None
        return Spent(code, True, session, locked_until)
    row = (await conn.execute(_SPENT_ALREADY, {"b_code_hash": code_hash, "lock_keys": keys})).first()
    if row is None:
        locked = await conn.execute(select(_LOCKED_UNTIL.element), {"lock_keys": keys})
        return Spent(None, False, None, locked.scalar())
    fields = dict(row._mapping)
    locked_until = fields.pop("locked_until")
    return Spent(CodeRecord(**fields), False, None, locked_until)


async def add_access_token(conn: AsyncConnection, record: AccessTokenRecord) -> None:
    await conn.execute(_ADD_TOKEN, [record.__dict__])


async def get_access_token(conn: AsyncConnection, token_hash: str) -> AccessTokenRecord | None:
    row = (await conn.execute(select(tokens).where(tokens.c.token_hash == token_hash))).first()
    return AccessTokenRecord(**row._mapping) if row else None


async def revoke_tokens_of_code(conn: AsyncConnection, code_hash: str, now: datetime) -> int:
    result = await conn.execute(
        update(tokens).where(tokens.c.code_hash == code_hash, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount


async def revoke_tokens_of_sessions(conn: AsyncConnection, sids: list[str], now: datetime) -> None:
    for start in range(0, len(sids), 500):
        await conn.execute(
            update(tokens)
            .where(tokens.c.sid.in_(sids[start : start + 500]), tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )


async def purge_expired(conn: AsyncConnection, before: datetime) -> int:
    """Delete codes, access and refresh tokens that expired before ``before``; returns how many."""
    removed = (await conn.execute(delete(codes).where(codes.c.expires_at < before))).rowcount
    removed += (await conn.execute(delete(tokens).where(tokens.c.expires_at < before))).rowcount
    removed += (await conn.execute(delete(refresh).where(refresh.c.expires_at < before))).rowcount
    return removed


async def revoke_access_token(conn: AsyncConnection, token_hash: str, now: datetime) -> None:
    await conn.execute(
        update(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )


async def family_is_offline(conn: AsyncConnection, family_id: str) -> bool:
    row = (await conn.execute(select(refresh.c.offline).where(refresh.c.family_id == family_id).limit(1))).first()
    return bool(row and row.offline)


# -- refresh tokens -------------------------------------------------------------------------
async def add_refresh_token(conn: AsyncConnection, record: RefreshTokenRecord) -> None:
    await conn.execute(insert(refresh), [record.__dict__])


async def get_refresh_token(conn: AsyncConnection, token_hash: str) -> RefreshTokenRecord | None:
    row = (await conn.execute(select(refresh).where(refresh.c.token_hash == token_hash))).first()
    return RefreshTokenRecord(**row._mapping) if row else None


async def rotate_refresh_token(conn: AsyncConnection, token_hash: str, now: datetime) -> bool:
    """Mark a refresh token used.  True for exactly one caller: two racing uses are decided here."""
    result = await conn.execute(
        update(refresh)
        .where(refresh.c.token_hash == token_hash, refresh.c.rotated_at.is_(None), refresh.c.revoked_at.is_(None))
        .values(rotated_at=now)
    )
    return result.rowcount == 1


async def touch_refresh_token(conn: AsyncConnection, token_hash: str, expires_at: datetime) -> None:
    """A non-rotating refresh token was used: its idle deadline moves."""
    await conn.execute(update(refresh).where(refresh.c.token_hash == token_hash).values(expires_at=expires_at))


async def revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> int:
    """Revoke every refresh token of the family and every access token it produced."""
    count = (
        await conn.execute(
            update(refresh)
            .where(refresh.c.family_id == family_id, refresh.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    ).rowcount
    await conn.execute(
        update(tokens).where(tokens.c.family_id == family_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return count


async def revoke_refresh_of_sessions(
    conn: AsyncConnection, bound_only: list[str], everything: list[str], now: datetime
) -> None:
    """BCL §2.7 for a batch: the session-bound refresh tokens of ``bound_only`` sessions, and every
    refresh token (offline too) of ``everything`` sessions."""
    for sids, offline_too in ((bound_only, False), (everything, True)):
        for start in range(0, len(sids), 500):
            query = update(refresh).where(refresh.c.sid.in_(sids[start : start + 500]), refresh.c.revoked_at.is_(None))
            if not offline_too:
                query = query.where(refresh.c.offline.is_(False))
            await conn.execute(query.values(revoked_at=now))


async def revoke_refresh_of_user(
    conn: AsyncConnection,
    user_id: int,
    now: datetime,
    *,
    client_id: str | None = None,
    except_sid: str | None = None,
) -> int:
    """Every refresh-token grant of a user (of one client; but those of session ``except_sid``),
    offline ones included, and the access tokens they produced.  Returns the grants revoked."""
    query = select(refresh.c.family_id).where(refresh.c.user_id == user_id, refresh.c.revoked_at.is_(None))
    if client_id is not None:
        query = query.where(refresh.c.client_id == client_id)
    if except_sid is not None:
        query = query.where(refresh.c.sid != except_sid)
    families = {r.family_id for r in await conn.execute(query)}
    for family in families:
        await revoke_family(conn, family, now)
    return len(families)


async def revoke_access_tokens_of_user(
    conn: AsyncConnection, user_id: int, now: datetime, *, client_id: str | None = None
) -> int:
    query = update(tokens).where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
    if client_id is not None:
        query = query.where(tokens.c.client_id == client_id)
    return (await conn.execute(query.values(revoked_at=now))).rowcount


@dataclass(frozen=True)
class TokenCounts:
    client_id: str
    access_tokens: int
    refresh_families: int
    offline_families: int


async def counts(
    conn: AsyncConnection, *, now: datetime, user_id: int | None = None, client_id: str | None = None
) -> list[TokenCounts]:
    """Live tokens per client (never their values): access tokens, refresh-token grants, offline ones."""
    live_access = select(tokens.c.client_id, func.count()).where(
        tokens.c.revoked_at.is_(None), tokens.c.expires_at > now
    )
    live_refresh = select(refresh.c.client_id, refresh.c.offline, func.count(func.distinct(refresh.c.family_id))).where(
        refresh.c.revoked_at.is_(None), refresh.c.rotated_at.is_(None), refresh.c.expires_at > now
    )
    if user_id is not None:
        live_access = live_access.where(tokens.c.user_id == user_id)
        live_refresh = live_refresh.where(refresh.c.user_id == user_id)
    if client_id is not None:
        live_access = live_access.where(tokens.c.client_id == client_id)
        live_refresh = live_refresh.where(refresh.c.client_id == client_id)
    access: dict[str, int] = {cid: n for cid, n in await conn.execute(live_access.group_by(tokens.c.client_id))}
    families: dict[str, list[int]] = {}
    for cid, offline, n in await conn.execute(live_refresh.group_by(refresh.c.client_id, refresh.c.offline)):
        families.setdefault(cid, [0, 0])[1 if offline else 0] += n
    return [
        TokenCounts(cid, int(access.get(cid, 0)), sum(families.get(cid, [0, 0])), families.get(cid, [0, 0])[1])
        for cid in sorted(set(access) | set(families))
    ]
