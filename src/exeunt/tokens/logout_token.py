"""Back-Channel Logout 1.0 (errata set 1) §2.4: the logout token.

Minted fresh for every delivery attempt, so a retry never carries an expired token.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from exeunt.tokens.id_token import sign
from exeunt.tokens.keys import LoadedKey

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
REASON_CLAIM = "exeunt_reason"


def mint_logout_token(
    key: LoadedKey,
    *,
    issuer: str,
    client_id: str,
    sub: str,
    sid: str | None,
    now: datetime,
    lifetime: int,
    typ: str = "logout+jwt",
    reason: str | None = None,
    txn: str | None = None,
) -> tuple[str, str]:
    """Returns ``(token, jti)``.  No ``nonce``, ever (§2.4: it MUST NOT be present)."""
    iat = int(now.timestamp())
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + lifetime,  # REQUIRED since errata set 1
        "jti": jti,
        "events": {BACKCHANNEL_EVENT: {}},
        "sub": sub,
    }
    if sid is not None:
        claims["sid"] = sid
    if txn is not None:
        # RFC 8417 §2.2 "txn": the session end this token tells of; every SET about the same end
        # carries the same value, so a system hearing both knows they are one event.
        claims["txn"] = txn
    if reason is not None:
        # A private claim (BCL §2.4 allows others; RPs ignore what they do not know): why the session
        # ended, in the vocabulary of exeunt.lifecycle.EndReason.
        claims[REASON_CLAIM] = reason
    return sign(key, claims, typ=typ), jti
