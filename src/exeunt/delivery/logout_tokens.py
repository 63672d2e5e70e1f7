"""The back-channel logout sender (BCL §2.5–§2.8): a fresh logout token per attempt, POSTed as a
form to the client's ``backchannel_logout_uri``, the answer classified by ``protocol/delivery.py``.

Delivery is at-least-once: clients de-duplicate by ``jti`` or by (``sid``, client).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from exeunt.delivery.sending import HttpSender, post
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.delivery import Answer, Outcome, classify
from exeunt.runtime import LOGOUT_TOKENS
from exeunt.storage import clients as client_store
from exeunt.storage.database import Connection
from exeunt.storage.outbox import DeliveryRecord
from exeunt.tokens.logout_token import mint_logout_token

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_PREFIX = b"logout_token="  # a JWT is base64url and dots: nothing in it needs form-encoding


class LogoutTokenSender(HttpSender):
    name = LOGOUT_TOKENS

    async def load(self, conn: Connection, rows: list[DeliveryRecord]) -> dict[str, ClientRecord]:
        return await client_store.get_many(conn, sorted({r.client_id for r in rows}))

    async def attempt(self, row: DeliveryRecord, loaded: dict[str, ClientRecord], now: datetime) -> Outcome:
        answer = await self._post(row, loaded.get(row.client_id), now)
        return classify(
            answer,
            delivery_id=row.id,
            attempts_before=row.attempts,
            created_at=row.created_at,
            now=now,
            max_age=self.config.backchannel_max_age,
        )

    async def _post(self, row: DeliveryRecord, client: ClientRecord | None, now: datetime) -> Answer:
        """Mint a fresh logout token and POST it; what came back, in the policy's terms."""
        if client is None:
            return Answer(refused="the client is no longer registered")
        if not client.backchannel_logout_uri:
            return Answer(refused="the client no longer has a backchannel_logout_uri")
        if urlsplit(row.uri).scheme not in ("http", "https"):
            return Answer(refused="backchannel_logout_uri is not http or https")
        ring = await self.runtime.key_ring()
        key = ring.signing_key_for(client.id_token_signed_response_alg, self.config.signing_alg, now)
        if key is None:  # never another algorithm's key: the client would reject that token
            alg = client.id_token_signed_response_alg or self.config.signing_alg
            return Answer(failure=f"no {alg} signing key is available; run `exeunt keys rotate --alg {alg}`")
        token, _jti = mint_logout_token(
            key,
            issuer=self.config.issuer,
            client_id=row.client_id,
            sub=row.sub,
            sid=row.sid,
            now=now,
            lifetime=self.config.logout_token_lifetime,
            typ=self.config.logout_token_typ,
            reason=row.reason,
            txn=row.txn or row.signout_id,
        )
        assert self._http is not None
        body = FORM_PREFIX + token.encode("ascii")
        return await post(self._http, row.uri, body, FORM, timeout=self.config.backchannel_timeout)
