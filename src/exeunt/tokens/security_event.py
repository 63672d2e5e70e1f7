"""Security Event Tokens (RFC 8417) as Shared Signals sends them: ``typ: secevent+jwt`` (SSF §4.1.1),
RS256 with a key of at least 2048 bits from the JWKS (CAEP Interoperability Profile §2.8).

The claims are decided when the event is queued (``protocol/signals.py``) and kept; each attempt
signs them again with the key that signs now, so a retry after a key rotation still verifies.
The ``jti`` and ``iat`` stay those of the event: a receiver de-duplicates by ``jti``.
"""

from __future__ import annotations

from typing import Any

from exeunt.tokens.id_token import sign
from exeunt.tokens.keys import LoadedKey

SET_TYP = "secevent+jwt"
SET_ALG = "RS256"


def mint_set(key: LoadedKey, claims: dict[str, Any]) -> str:
    if key.alg != SET_ALG:
        raise ValueError("Security Event Tokens are signed with RS256 (CAEP Interoperability Profile)")
    return sign(key, claims, typ=SET_TYP)
