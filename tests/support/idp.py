"""The real provider, served by uvicorn on a loopback port, plus the set-up a test needs."""

from __future__ import annotations

from typing import Any

import httpx

from exeunt.clock import ShiftedClock
from exeunt.config import load_config
from exeunt.jobs.host import JobHost
from exeunt.operations import accounts, applications
from exeunt.protocol.registration import build_client
from exeunt.web.app import create_app
from exeunt.web.provider import Provider
from tests.support.servers import ServerThread, bound_socket
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"


class Idp:
    def __init__(self, database_url: str, **settings: str) -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        env = {"EXEUNT_ISSUER": f"http://127.0.0.1:{port}", "EXEUNT_DATABASE_URL": database_url, **settings}
        self.config = load_config(env)
        self.issuer = self.config.issuer
        self.database_url = database_url
        self.clock = ShiftedClock()  # the provider's time: tests move it with travel()
        self.app = create_app(self.config, clock=self.clock)
        self.server = ServerThread(self.app, sock)

    def start(self) -> Idp:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def provider(self) -> Provider:
        provider: Provider = self.app.state.provider
        return provider

    @property
    def worker(self) -> JobHost:
        worker: JobHost = self.app.state.worker
        return worker

    def travel(self, seconds: float) -> None:
        """Move the provider's clock forward and wake its worker, which then sees rows fall due."""
        self.clock.advance(seconds)
        self.server.loop.call_soon_threadsafe(self.worker.wake)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the worker has looked at the outbox twice since now with nothing in flight: what
        was due by the provider's clock has been attempted and recorded."""
        start = self.worker.cycles

        def quiet() -> bool:
            self.server.loop.call_soon_threadsafe(self.worker.wake)
            return self.worker.cycles >= start + 2 and self.worker.in_flight == 0

        wait_until(quiet, timeout=timeout, what="the delivery worker to settle")

    def url(self, path: str) -> str:
        return self.issuer + path

    def call(self, coro: Any) -> Any:
        return self.server.call(coro)

    def add_user(self, username: str = "alice", password: str = PASSWORD, **kw: str | None) -> str:
        self.call(
            accounts.add_user(
                self.provider.db, username, password, email=kw.get("email"), name=kw.get("name"), now=self.clock.now()
            )
        )
        return username

    def add_client(
        self,
        client_id: str,
        redirect_uris: list[str],
        *,
        secret: str | None = None,
        public: bool = False,
        **metadata: Any,
    ) -> str | None:
        record = build_client(
            client_id=client_id,
            name=metadata.pop("name", client_id.title()),
            redirect_uris=redirect_uris,
            public=public,
            **metadata,
        )
        return self.call(applications.add_client(self.provider.db, record, secret, now=self.clock.now()))

    def jwks(self) -> dict[str, Any]:
        return httpx.get(self.url("/jwks")).json()
