"""The real provider, served by uvicorn on a loopback port, plus the set-up a test needs."""

from __future__ import annotations

from typing import Any

import httpx

from exeunt import admin
from exeunt.config import load_config
from exeunt.registration import build_client
from exeunt.web.app import create_app
from exeunt.web.provider import Provider
from tests.support.servers import ServerThread, bound_socket

PASSWORD = "correct horse battery"


class Idp:
    def __init__(self, database_url: str, **settings: str) -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        env = {"EXEUNT_ISSUER": f"http://127.0.0.1:{port}", "EXEUNT_DATABASE_URL": database_url, **settings}
        self.config = load_config(env)
        self.issuer = self.config.issuer
        self.database_url = database_url
        self.app = create_app(self.config)
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

    def url(self, path: str) -> str:
        return self.issuer + path

    def call(self, coro: Any) -> Any:
        return self.server.call(coro)

    def add_user(self, username: str = "alice", password: str = PASSWORD, **kw: str | None) -> str:
        self.call(admin.add_user(self.provider.db, username, password, email=kw.get("email"), name=kw.get("name")))
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
        return self.call(admin.add_client(self.provider.db, record, secret))

    def jwks(self) -> dict[str, Any]:
        return httpx.get(self.url("/jwks")).json()
