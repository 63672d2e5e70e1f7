"""Minting id_tokens, and checking that an ``id_token_hint`` is one of ours."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from exeunt.errors import ExeuntError
from exeunt.security import b64url
from exeunt.tokens.keys import KeyRing, LoadedKey


def at_hash(access_token: str) -> str:
    """Core §3.1.3.6: left half of the SHA-256 of the token (RS256 and ES256 both use SHA-256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def sign(key: LoadedKey, claims: dict[str, Any], *, typ: str = "JWT") -> str:
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


def mint_id_token(
    key: LoadedKey,
    *,
    issuer: str,
    client_id: str,
    sub: str,
    sid: str,
    auth_time: datetime,
    nonce: str | None,
    access_token: str,
    lifetime: int,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> str:
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": client_id,
        "exp": iat + lifetime,
        "iat": iat,
        "auth_time": int(auth_time.timestamp()),
        "sid": sid,
        "at_hash": at_hash(access_token),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if extra:
        claims.update(extra)
    return sign(key, claims)


class HintInvalid(ExeuntError):
    """The id_token_hint is not an id_token this provider issued; the message says why."""


@dataclass(frozen=True)
class HintClaims:
    client_id: str
    sub: str
    sid: str | None
    expired: bool


def verify_id_token_hint(token: str, ring: KeyRing, *, issuer: str, now: datetime) -> HintClaims:
    """RIL §2: the OP MUST validate that it issued the hint; an expired one is still accepted.

    Only our own keys and algorithms are tried: ``alg: none``, HMAC with a client secret, a token
    signed by the client or by another issuer all fail here.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise HintInvalid("id_token_hint is not a JWT") from exc
    alg = header.get("alg")
    if alg not in ring.algorithms:
        raise HintInvalid(f"id_token_hint is signed with {alg!r}, which this provider does not use")
    kid = header.get("kid")
    candidates = (
        [k for k in [ring.verification_key(kid)] if k is not None]
        if isinstance(kid, str)
        else [k for k in ring.all() if k.alg == alg]
    )
    if not candidates:
        raise HintInvalid("id_token_hint was not signed by a key of this provider")
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                token,
                key.private.public_key(),
                algorithms=[key.alg],
                issuer=issuer,
                options={
                    "verify_exp": False,
                    "verify_aud": False,
                    "verify_iat": False,
                    "require": ["iss", "sub", "aud"],
                },
            )
            break
        except jwt.InvalidIssuerError as exc:
            raise HintInvalid("id_token_hint was issued by someone else") from exc
        except jwt.PyJWTError:
            continue
    if claims is None:
        raise HintInvalid("id_token_hint signature does not verify")
    aud = claims["aud"]
    if isinstance(aud, list):
        client_id = claims.get("azp") if len(aud) != 1 else aud[0]
    else:
        client_id = aud
    if not isinstance(client_id, str) or not isinstance(claims["sub"], str):
        raise HintInvalid("id_token_hint has no usable aud or sub")
    sid = claims.get("sid")
    exp = claims.get("exp")
    expired = isinstance(exp, int | float) and exp < now.timestamp()
    return HintClaims(
        client_id=client_id, sub=claims["sub"], sid=sid if isinstance(sid, str) else None, expired=expired
    )
