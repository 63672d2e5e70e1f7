"""What every sender shares: its HTTP client, one POST bounded in time, and what came of it in the policy's terms.

A sender (``logout_tokens.py``: back-channel logout tokens) knows its rows and how to make the
request body; the deliveries job (``deliveries.py``) knows claiming, leases and recording, and
nothing of what is sent.  ``post`` turns the network's answer, or its silence, into an
``Answer`` that ``protocol/delivery.py`` classifies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx

from exeunt.delivery.transport import AddressNotAllowed, delivery_client, delivery_transport
from exeunt.protocol.delivery import Answer, Outcome
from exeunt.runtime import Runtime
from exeunt.storage.database import Connection

BODY_CAP = 4096  # bytes of a receiver's answer read at the most (kept for the log's excerpt)


class HttpSender:
    """The HTTP client every sender posts with: the guarded transport (addresses checked when
    connected, a cap per host, a cap on the answer read), opened by ``start``, closed by ``close``."""

    def __init__(self, runtime: Runtime, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self._transport = transport or delivery_transport(
            allow_private=self.config.backchannel_allow_private,
            max_per_host=self.config.backchannel_per_host,
            body_cap=BODY_CAP,
        )
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = delivery_client(self._transport, timeout=self.config.backchannel_timeout)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class QueuedRow(Protocol):
    """What the deliveries job reads of a row it claimed (of any outbox)."""

    @property
    def id(self) -> int: ...
    @property
    def uri(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def sid(self) -> str | None: ...
    @property
    def initiating(self) -> bool: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def leased_until(self) -> datetime | None: ...


class Sender(Protocol):
    """One kind of notification: loads what its rows need, then attempts one row."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, conn: Connection, rows: list[Any]) -> Any:
        """What the attempts of ``rows`` need (clients, streams), read in the claim's transaction."""
        ...

    async def attempt(self, row: Any, loaded: Any, now: datetime) -> Outcome:
        """Send ``row`` once and say what came of it (never raises for a network problem)."""
        ...


async def post(http: httpx.AsyncClient, uri: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``uri`` within ``timeout`` seconds, redirects never followed; the transport
    reads at most the first few kilobytes of the answer."""
    try:
        async with asyncio.timeout(timeout):
            response = await http.post(uri, content=body, headers=dict(headers))
    except AddressNotAllowed as exc:
        return Answer(refused=f"not sent: {exc}")
    except TimeoutError:
        return Answer(failure=f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Answer(failure=f"{type(exc).__name__}: {exc}"[:300])
    except OSError as exc:
        return Answer(failure=f"network error: {exc}")
    return Answer(
        status=response.status_code,
        retry_after=response.headers.get("retry-after"),
        excerpt=response.content[:300].decode("utf-8", "replace").strip(),
    )
