"""The tables.  Only ``storage/`` modules import this; everything else gets plain dataclasses back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set: the user cannot sign in
    operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())  # opens the console


class Client(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(300))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean)
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grant_types: Mapped[list[str] | None] = mapped_column(JSON)  # None: authorization_code only
    allow_offline_access: Mapped[bool] = mapped_column(Boolean, server_default=sa_false())
    rotate_refresh_tokens: Mapped[bool] = mapped_column(Boolean, server_default=sa_true())
    # What an operator granted the client for the client-credentials grant (ssf.manage, ...), and
    # whether its streams and revocations reach every person, or only those who used the client.
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    all_subjects: Mapped[bool] = mapped_column(Boolean, server_default=sa_false())
    application_type: Mapped[str] = mapped_column(String(10), server_default="web")
    contacts: Mapped[list[str] | None] = mapped_column(JSON)
    client_uri: Mapped[str | None] = mapped_column(Text)
    logo_uri: Mapped[str | None] = mapped_column(Text)
    policy_uri: Mapped[str | None] = mapped_column(Text)
    tos_uri: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=sa_false())


class SsoSession(Base):
    """One single-sign-on session of one browser; ``sid`` is what every sign-out technique names."""

    __tablename__ = "sso_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sub: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(20))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    ip: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the Session Management browser state set at sign-in: the check_session iframe asks
    # with it whether the session still lives (ended elsewhere, it answers "changed").
    browser_state_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class SessionParticipation(Base):
    """Which client took part in which session: the table every sign-out technique reads."""

    __tablename__ = "session_participation"

    sid: Mapped[str] = mapped_column(ForeignKey("sso_sessions.sid", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True)
    first_code_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_code_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    sid: Mapped[str] = mapped_column(ForeignKey("sso_sessions.sid", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessToken(Base):
    """An access token (hash): of a person's session, or (client credentials) of a client acting for
    itself, with no session, person or code."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    sid: Mapped[str | None] = mapped_column(ForeignKey("sso_sessions.sid", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    family_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the refresh-token family it came from
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(Base):
    """A refresh token (hash).  Tokens of one grant form a family: each use rotates to a new member;
    presenting a rotated one again revokes the family (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    sid: Mapped[str] = mapped_column(String(64), index=True)  # the SSO session it was issued in
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    offline: Mapped[bool] = mapped_column(Boolean)  # offline_access: outlives the browser's sign-out
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # idle limit, within the family's
    family_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute limit of the grant
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(20))
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signs_from: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InstanceSecret(Base):
    """Values every process of one installation must share (the cookie key when not configured)."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The sweeper's two deadlines, over live sessions only: ended rows stay in the table (for
# `exeunt sessions` and the account page), and an index over them made each sweep batch step over
# every session a previous batch had ended.
_LIVE = text("ended_at IS NULL")
Index("ix_sso_sessions_live_expiry", SsoSession.expires_at, postgresql_where=_LIVE, sqlite_where=_LIVE)
Index("ix_sso_sessions_live_activity", SsoSession.last_active_at, postgresql_where=_LIVE, sqlite_where=_LIVE)


class Signout(Base):
    """One sign-out: what the logged-out page and the status endpoint show.  ``id`` is unguessable."""

    __tablename__ = "signouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), index=True)
    sub: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(20))
    initiating_client_id: Mapped[str | None] = mapped_column(String(200))
    post_logout_redirect_uri: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # the console's newest first
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # [{client_id, name, frontchannel_url, backchannel}] in the order the clients joined the session
    participants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # What every logout token and SET this session end caused carries as ``txn`` (its cause: this
    # sign-out, or the password change or revocation that ended several sessions at once).
    txn: Mapped[str | None] = mapped_column(String(64))


class BackchannelDelivery(Base):
    """The outbox: one logout token to deliver to one client for one ended session."""

    __tablename__ = "backchannel_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signout_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(200), index=True)
    uri: Mapped[str] = mapped_column(Text)
    sid: Mapped[str] = mapped_column(String(64))
    sub: Mapped[str] = mapped_column(String(64))
    initiating: Mapped[bool] = mapped_column(Boolean)  # the client the browser returns to: sent first
    reason: Mapped[str] = mapped_column(String(20), server_default="user")  # why the session ended
    txn: Mapped[str | None] = mapped_column(String(64))  # the cause, as in the SETs of the same end
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # the console's recent hours
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Due rows are found by this index, in the order workers claim them (next_attempt_at, id), so a claim
# reads only the rows it takes (plus those other workers hold) however long the queue.  Pending rows
# have a next_attempt_at, finished ones NULL: they leave the index.
_PENDING = text("next_attempt_at IS NOT NULL")
Index(
    "ix_backchannel_deliveries_due",
    BackchannelDelivery.next_attempt_at,
    BackchannelDelivery.id,
    postgresql_where=_PENDING,
    sqlite_where=_PENDING,
)
# The initiating clients' rows (a browser waits for them) are claimed first: a small index of their own.
Index(
    "ix_backchannel_deliveries_due_initiating",
    BackchannelDelivery.next_attempt_at,
    BackchannelDelivery.id,
    postgresql_where=text("initiating AND next_attempt_at IS NOT NULL"),
    sqlite_where=text("initiating = 1 AND next_attempt_at IS NOT NULL"),
)


class WorkerHeartbeat(Base):
    """Delivery workers alive: /readyz of a `serve --no-worker` process and the worker health check read it."""

    __tablename__ = "worker_heartbeats"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ThrottleCounter(Base):
    """Failed attempts per key (hashed account, address, client) and the lock they earned."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


def table_of(model: type[Base]) -> Table:
    """The model's table, typed as a ``Table`` (``__table__`` is declared as a mere ``FromClause``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
