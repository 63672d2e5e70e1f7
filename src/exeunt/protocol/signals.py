"""What exeunt says to Shared Signals receivers: CAEP 1.0 events as Security Event Tokens, pure.

Every SET (SSF 1.0 §4.1, RFC 8417) carries ``iss``, ``aud`` (the stream's), ``iat``, ``jti``,
``txn`` (the cause: the same value as the logout tokens of the same session end), a top-level
``sub_id`` (RFC 9493; never ``sub``, never ``exp``) and exactly one event (CAEP Interoperability
Profile §2.7).  CAEP's common claims (§2): ``event_timestamp``, ``initiating_entity`` and
``reason_admin`` (the interop profile makes it a MUST) with ``reason_user`` in plain words.

How each reason a session ends maps to ``initiating_entity`` (the README quotes this table):

================  ===================  =====================================================
EndReason         initiating_entity    because
================  ===================  =====================================================
user              user                 the person signed out at the provider
rp_initiated      user                 the person signed out from an application
replaced          user                 the person signed in again in the same browser
other_device      user                 the person signed out another of their devices
password_changed  user / admin         the person changed it (account page) / an operator set it
expired, idle     policy               the session's lifetime or idle timeout passed
admin             admin                an operator ended it (CLI, admin API)
user_removed      admin                an operator disabled or removed the person
revoked           system               a security tool called Global Token Revocation
================  ===================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from exeunt.errors import ApiError
from exeunt.lifecycle import EndReason
from exeunt.words import N_

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"
SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"
EVENTS_SUPPORTED = (SESSION_REVOKED, CREDENTIAL_CHANGE)
SHORT_NAMES = {SESSION_REVOKED: "session-revoked", CREDENTIAL_CHANGE: "credential-change",
               VERIFICATION: "verification", STREAM_UPDATED: "stream-updated"}  # fmt: skip

ENTITY = {
    EndReason.USER: "user",
    EndReason.RP_INITIATED: "user",
    EndReason.REPLACED: "user",
    EndReason.OTHER_DEVICE: "user",
    EndReason.PASSWORD_CHANGED: "user",  # "admin" when an operator set it (the caller says so)
    EndReason.EXPIRED: "policy",
    EndReason.IDLE: "policy",
    EndReason.ADMIN: "admin",
    EndReason.USER_REMOVED: "admin",
    EndReason.REVOKED: "system",
}
REASON_ADMIN = {
    EndReason.USER: "The user signed out at the identity provider",
    EndReason.RP_INITIATED: "The user signed out from an application (RP-Initiated Logout)",
    EndReason.REPLACED: "The user signed in again in the same browser; the older session ended",
    EndReason.OTHER_DEVICE: "The user signed this device out from another one",
    EndReason.PASSWORD_CHANGED: "The password was changed; every other session of the user ended",
    EndReason.EXPIRED: "The session reached its maximum lifetime",
    EndReason.IDLE: "The session was idle longer than the idle timeout",
    EndReason.ADMIN: "An administrator ended the session",
    EndReason.USER_REMOVED: "The account was disabled or removed by an administrator",
    EndReason.REVOKED: "Every token and session of the user was revoked (Global Token Revocation)",
}
REASON_USER = {
    EndReason.USER: N_("You signed out."),
    EndReason.RP_INITIATED: N_("You signed out."),
    EndReason.REPLACED: N_("You signed in again."),
    EndReason.OTHER_DEVICE: N_("You signed this device out from another one."),
    EndReason.PASSWORD_CHANGED: N_("Your password was changed, so you were signed out."),
    EndReason.EXPIRED: N_("Your session expired. Please sign in again."),
    EndReason.IDLE: N_("You were signed out after a period of inactivity."),
    EndReason.ADMIN: N_("An administrator signed you out."),
    EndReason.USER_REMOVED: N_("Your account was disabled by an administrator."),
    EndReason.REVOKED: N_("You were signed out everywhere for your account's security. Please sign in again."),
}
SUBJECT_FORMATS = ("iss_sub", "email", "complex")


def subject_of(
    subject_format: str, *, issuer: str, sub: str, email: str | None, sid: str | None = None
) -> dict[str, Any]:
    """The top-level ``sub_id`` (RFC 9493 §3): ``iss_sub`` (the ``sub`` every client of exeunt knows:
    subjects are public), ``email`` where the stream asks for it (``iss_sub`` for a person without
    one), or ``complex`` (SSF §3.3): the user as ``iss_sub`` and the session's ``sid``."""
    user = {"format": "iss_sub", "iss": issuer, "sub": sub}
    if subject_format == "email" and email:
        return {"format": "email", "email": email}
    if subject_format == "complex":
        complex_subject: dict[str, Any] = {"format": "complex", "user": user}
        if sid is not None:
            complex_subject["session"] = {"format": "opaque", "id": sid}
        return complex_subject
    return user


def stream_subject(stream_id: str) -> dict[str, Any]:
    """SSF §8.1.4.1, §8.1.5: verification and stream-updated events name the stream itself."""
    return {"format": "opaque", "id": stream_id}


def set_claims(
    *,
    issuer: str,
    audience: str,
    jti: str,
    issued_at: datetime,
    txn: str | None,
    subject: dict[str, Any],
    event_type: str,
    event: dict[str, Any],
) -> dict[str, Any]:
    """A SET's claims: exactly one event, ``sub_id`` on top, no ``sub`` and no ``exp`` (SSF §4.1)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": int(issued_at.timestamp()),
        "jti": jti,
        "sub_id": subject,
        "events": {event_type: event},
    }
    if txn is not None:
        claims["txn"] = txn
    return claims


Say = Callable[[str], dict[str, str]]  # a message in the languages the SET carries, by tag


def english(text: str) -> dict[str, str]:
    return {"en": text}


def session_revoked(
    reason: EndReason, *, at: datetime, entity: str | None = None, say: Say = english
) -> dict[str, Any]:
    """CAEP §3.1, with the common claims (§2) the interop profile asks for (§4.1: ``reason_admin``);
    ``reason_user`` in every language ``say`` gives (CAEP §2: a map of language tags)."""
    return {
        "event_timestamp": int(at.timestamp()),
        "initiating_entity": entity or ENTITY[reason],
        "reason_admin": {"en": REASON_ADMIN[reason]},
        "reason_user": say(REASON_USER[reason]),
    }


def credential_change(*, at: datetime, by_owner: bool, say: Say = english) -> dict[str, Any]:
    """CAEP §3.3: a password set by its owner (``user``) or an operator (``admin``)."""
    return {
        "credential_type": "password",
        "change_type": "update",
        "event_timestamp": int(at.timestamp()),
        "initiating_entity": "user" if by_owner else "admin",
        "reason_admin": {
            "en": "The password was changed by its owner" if by_owner else "An administrator set the password"
        },
        "reason_user": say(
            N_("Your password was changed.") if by_owner else N_("An administrator set a new password for you.")
        ),
    }


def verification(state: str | None) -> dict[str, Any]:
    """SSF §8.1.4.1: ``state`` echoed when the receiver gave one."""
    return {} if state is None else {"state": state}


def stream_updated(status: str, reason: str | None) -> dict[str, Any]:
    """SSF §8.1.5: the stream's new status, when exeunt (an operator) changed it."""
    event: dict[str, Any] = {"status": status}
    if reason:
        event["reason"] = reason
    return event


@dataclass(frozen=True)
class Person:
    """Who a ``sub_id`` (RFC 9493) names at exeunt: by ``sub`` or by ``email``."""

    sub: str | None = None
    email: str | None = None


def person_named(sub_id: object, *, issuer: str) -> Person | None:
    """Global Token Revocation §2.2: the person a ``sub_id`` names.  ``iss_sub`` (with exeunt's
    issuer; None for another issuer's subject: nobody here), ``email``, or ``opaque`` (the ``sub``).
    A malformed or unsupported one is a 400 naming what is wrong."""
    if not isinstance(sub_id, dict) or not isinstance(sub_id.get("format"), str):
        raise ApiError(400, "invalid_request", 'sub_id must be an object with a "format" (RFC 9493)')
    kind = sub_id["format"]
    if kind == "iss_sub":
        iss, sub = sub_id.get("iss"), sub_id.get("sub")
        if not _short(iss) or not _short(sub):
            raise ApiError(400, "invalid_request", "an iss_sub subject needs iss and sub")
        return Person(sub=sub) if iss == issuer else None
    if kind == "email":
        email = sub_id.get("email")
        if not _short(email) or "@" not in email:
            raise ApiError(400, "invalid_request", "an email subject needs an email address")
        return Person(email=email)
    if kind == "opaque":
        identifier = sub_id.get("id")
        if not _short(identifier):
            raise ApiError(400, "invalid_request", "an opaque subject needs an id (exeunt's sub)")
        return Person(sub=identifier)
    raise ApiError(400, "invalid_request", "sub_id format must be iss_sub, email or opaque")


def _short(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 320
