"""Building a signed-in session with back-channel receivers, and reading what they received."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from sqlalchemy.ext.asyncio import AsyncConnection

from exeunt.storage import sessions as session_store
from exeunt.storage.users import UserRecord
from tests.support.flows import Browser, Rp, exchange, verify_id_token
from tests.support.idp import Idp
from tests.support.rp import RecordingRp


async def write_sessions(
    conn: AsyncConnection, user: UserRecord, client_ids: tuple[str, ...], *, count: int, now: datetime
) -> list[str]:
    """``count`` live sessions of ``user`` written straight into storage, each with every one of
    ``client_ids`` taking part (a password sign-in each would take minutes).  Returns the sids."""
    sids = []
    for _ in range(count):
        session = await session_store.create(conn, user_id=user.id, sub=user.sub, now=now, lifetime=3600)
        for name in client_ids:
            await session_store.record_participation(conn, sid=session.sid, client_id=name, now=now)
        sids.append(session.sid)
    return sids


def receiver(
    idp: Idp, receivers: list[RecordingRp], name: str, *, mode: str = "200", start: bool = True, query: str = ""
) -> RecordingRp:
    """A real RP on loopback registered with a back-channel URI; it answers ``mode`` (200, 400, hang ...)."""
    rp = RecordingRp(name)
    rp.state.mode = mode
    receivers.append(rp)
    secret = idp.add_client(name, [rp.redirect_uri], name=name.title(), **rp.metadata(backchannel=True, query=query))
    rp.secret, rp.issuer = secret, idp.issuer
    if start:
        rp.start(idp.issuer, secret)
    return rp


def sign_in_to(idp: Idp, browser: Browser, rps: list[RecordingRp]) -> dict[str, Any]:
    """One session in ``browser`` in which every RP got a code and tokens; the last id_token's claims."""
    claims: dict[str, Any] = {}
    for rp in rps:
        client = Rp(rp.client_id, rp.redirect_uri, rp.secret)
        signed_in = browser.sign_in(client)
        claims = verify_id_token(idp, exchange(idp, client, signed_in).json()["id_token"], rp.client_id)
    return claims


def logout_token_of(idp: Idp, event_body: str, client_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The logout token in a back-channel POST body, its signature checked against the JWKS (BCL §2.6)."""
    form = parse_qs(event_body)
    assert list(form) == ["logout_token"]
    token = form["logout_token"][0]
    header = jwt.get_unverified_header(token)
    keys = {k["kid"]: k for k in idp.jwks()["keys"]}
    claims = jwt.decode(
        token,
        jwt.PyJWK(keys[header["kid"]]),
        algorithms=[header["alg"]],
        audience=client_id,
        issuer=idp.issuer,
        # Times are checked against the provider's clock, which tests move forward.
        options={"require": ["exp", "iat", "jti", "aud", "iss"], "verify_exp": False, "verify_iat": False},
    )
    provider_now = idp.clock.now().timestamp()
    assert claims["iat"] <= provider_now + 1 and 0 < claims["exp"] - claims["iat"] <= 3600
    return header, claims
