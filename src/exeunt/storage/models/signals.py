"""The tables of registration over HTTP (RFC 7591/7592) and of Shared Signals: initial access tokens,
client registrations, streams and the SET outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from exeunt.storage.models.core import Base, UTCDateTime

_PENDING = text("next_attempt_at IS NOT NULL")


class RegistrationToken(Base):
    """An initial access token (RFC 7591 §3): lets a platform register clients over HTTP."""

    __tablename__ = "registration_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str] | None] = mapped_column(JSON)  # service scopes its clients may ask for
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClientRegistration(Base):
    """A client registered over HTTP, and its registration access token (RFC 7592; a hash, rotated
    on every use)."""

    __tablename__ = "client_registrations"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    registration_token_id: Mapped[int | None] = mapped_column(Integer)  # the initial access token used
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SsfStream(Base):
    """A Shared Signals stream (SSF §8.1.1): one receiver (a client) hearing CAEP events, pushed to
    its ``endpoint_url`` (RFC 8935) or polled from exeunt (RFC 8936)."""

    __tablename__ = "ssf_streams"

    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"), index=True)
    delivery_method: Mapped[str] = mapped_column(String(40))
    endpoint_url: Mapped[str | None] = mapped_column(Text)  # push: the receiver's; poll: exeunt's (derived)
    authorization_header: Mapped[str | None] = mapped_column(Text)  # sent with every push; never shown
    events_requested: Mapped[list[str] | None] = mapped_column(JSON)
    events_delivered: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    subject_format: Mapped[str] = mapped_column(String(20), server_default="iss_sub")
    status: Mapped[str] = mapped_column(String(20), server_default="enabled")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verification_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SsfEvent(Base):
    """The outbox of Security Event Tokens: one SET for one stream, pushed (with leases, retries and
    outcomes like ``backchannel_deliveries``) or waiting to be polled and acknowledged."""

    __tablename__ = "ssf_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("ssf_streams.stream_id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    txn: Mapped[str | None] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    sid: Mapped[str | None] = mapped_column(String(64))
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)  # the SET's claims, signed at each attempt
    delivery: Mapped[str] = mapped_column(String(10))  # push | poll
    uri: Mapped[str] = mapped_column(Text)  # push: where it goes ("" for poll)
    held: Mapped[bool] = mapped_column(Boolean, server_default=sa_false())  # the stream is paused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # push: 2xx; poll: acknowledged
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index(
    "ix_ssf_events_due",
    SsfEvent.next_attempt_at,
    SsfEvent.id,
    postgresql_where=_PENDING,
    sqlite_where=_PENDING,
)
_WAITING = text("delivered_at IS NULL AND given_up_at IS NULL")
# What a poll reads: a stream's events not yet acknowledged (or given up), oldest first.
Index("ix_ssf_events_waiting", SsfEvent.stream_id, SsfEvent.id, postgresql_where=_WAITING, sqlite_where=_WAITING)
