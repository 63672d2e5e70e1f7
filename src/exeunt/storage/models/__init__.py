"""The tables.  Only ``storage/`` modules import this; everything else gets plain dataclasses back.
``core.py``: people, clients, sessions, grants, keys, sign-outs and the back-channel outbox;
``signals.py``: registration over HTTP and Shared Signals."""

from __future__ import annotations

from exeunt.storage.models.core import (
    NAMING,
    AccessToken,
    AuthorizationCode,
    BackchannelDelivery,
    Base,
    Client,
    InstanceSecret,
    RefreshToken,
    SessionParticipation,
    SigningKey,
    Signout,
    SsoSession,
    ThrottleCounter,
    User,
    UTCDateTime,
    WorkerHeartbeat,
    table_of,
)
from exeunt.storage.models.signals import ClientRegistration, RegistrationToken, SsfEvent, SsfStream

__all__ = [
    "NAMING",
    "AccessToken",
    "AuthorizationCode",
    "BackchannelDelivery",
    "Base",
    "Client",
    "ClientRegistration",
    "InstanceSecret",
    "RefreshToken",
    "RegistrationToken",
    "SessionParticipation",
    "Signout",
    "SigningKey",
    "SsfEvent",
    "SsfStream",
    "SsoSession",
    "ThrottleCounter",
    "UTCDateTime",
    "User",
    "WorkerHeartbeat",
    "table_of",
]
