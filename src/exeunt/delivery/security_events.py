"""The Shared Signals push sender (RFC 8935, SSF §6.1): the SET, signed now, POSTed as
``application/secevent+jwt`` to the stream's ``endpoint_url`` with the receiver's
``authorization_header``; the answer classified by ``protocol/delivery.py`` like a logout token's
(202, or any 2xx, is delivered; a 400 with ``err`` is final and recorded; 5xx, 429, timeouts and
redirects are retried, never followed).

The stream is read when the row is claimed: a paused stream's event is held, not sent (it goes on
when the stream is enabled); a disabled or deleted stream's is given up.  A stream-updated event
is sent whatever the status (SSF §8.1.5: before the stream stops).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from exeunt.delivery.sending import HttpSender, post
from exeunt.protocol.delivery import Answer, DeliveryState, Outcome, classify
from exeunt.runtime import SECURITY_EVENTS
from exeunt.storage import streams as stream_store
from exeunt.storage.database import Connection
from exeunt.storage.security_events import CONTROL_EVENTS, EventRecord
from exeunt.storage.streams import StreamRecord
from exeunt.tokens.security_event import SET_ALG, mint_set


class SecurityEventSender(HttpSender):
    name = SECURITY_EVENTS

    async def load(self, conn: Connection, rows: list[EventRecord]) -> dict[str, StreamRecord]:
        return await stream_store.get_many(conn, sorted({r.stream_id for r in rows}))

    async def attempt(self, row: EventRecord, loaded: dict[str, StreamRecord], now: datetime) -> Outcome:
        stream = loaded.get(row.stream_id)
        control = row.event_type in CONTROL_EVENTS
        if stream is not None and stream.status == "paused" and not control:
            return Outcome(row.id, now, DeliveryState.HELD)
        answer = await self._post(row, stream, control, now)
        return classify(
            answer,
            delivery_id=row.id,
            attempts_before=row.attempts,
            created_at=row.created_at,
            now=now,
            max_age=self.config.backchannel_max_age,
        )

    async def _post(self, row: EventRecord, stream: StreamRecord | None, control: bool, now: datetime) -> Answer:
        if stream is None:
            return Answer(refused="the stream was deleted")
        if stream.status == "disabled" and not control:
            return Answer(refused="the stream is disabled")
        uri = stream.endpoint_url or row.uri
        if urlsplit(uri).scheme not in ("http", "https"):
            return Answer(refused="the stream's endpoint_url is not http or https")
        key = (await self.runtime.key_ring()).signing_key(SET_ALG, now)
        if key is None:
            return Answer(failure=f"no {SET_ALG} signing key is available; run `exeunt keys rotate --alg {SET_ALG}`")
        headers = {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}
        if stream.authorization_header:
            headers["Authorization"] = stream.authorization_header
        assert self._http is not None
        body = mint_set(key, row.claims).encode("ascii")
        return await post(self._http, uri, body, headers, timeout=self.config.backchannel_timeout)
