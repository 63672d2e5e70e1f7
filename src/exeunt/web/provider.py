"""Per-app services the endpoints share (``request.app.state.provider``)."""

from __future__ import annotations

import logging
from datetime import datetime

from starlette.requests import Request

from exeunt.config import Config
from exeunt.paths import package_dir
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.identifiers import is_client_id
from exeunt.protocol.urls import origin_of
from exeunt.runtime import Runtime
from exeunt.security import check_csrf, csrf_token
from exeunt.storage import clients as client_store
from exeunt.storage import sessions as session_store
from exeunt.storage.database import Connection, Database
from exeunt.storage.sessions import SessionRecord
from exeunt.web.cookies import Cookies
from exeunt.web.i18n import Pages

log = logging.getLogger("exeunt.clients")
CORS_ORIGINS_TTL = 10.0
CLIENT_CACHE_TTL = 1.0  # seconds a process may use a client registration before reading it again


class Provider:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config: Config = runtime.config
        self.db: Database = runtime.db
        self.cookies = Cookies(runtime.config, runtime.secret_key)
        self.templates = Pages(str(package_dir("templates")), runtime.config.default_locale)
        self.templates.env.globals["issuer"] = runtime.config.issuer
        self._clients: dict[str, tuple[float, ClientRecord | None]] = {}
        self._cors_origins: frozenset[str] = frozenset()
        self._cors_loaded = float("-inf")
        self.database_trouble_at = float("-inf")  # when a request last found the database unavailable

    @staticmethod
    def of(request: Request) -> Provider:
        provider: Provider = request.app.state.provider
        return provider

    def now(self) -> datetime:
        return self.runtime.clock.now()

    async def live_session_ending_overdue(self, request: Request) -> SessionRecord | None:
        """The live SSO session named by the browser's cookie, if any.  Not only a read: a session past
        its deadline that the sweeper has not reached yet is ended here (its applications are told)."""
        sid = self.cookies.read_sid(request)
        if sid is None:
            return None
        async with self.db.read() as conn:
            session = await session_store.get(conn, sid)
        return await self.live_or_end_overdue(session)

    async def live_or_end_overdue(self, session: SessionRecord | None) -> SessionRecord | None:
        """``session`` if it is live now.  One that passed its absolute or idle deadline but was not
        yet ended by the sweeper is ended here, through the one sign-out call (once: whoever comes
        second finds it ended), and treated as signed out."""
        if session is None or session.ended_at is not None:
            return None
        overdue = session.overdue(self.now(), self.config.session_idle_timeout)
        if overdue is None:
            return session
        from exeunt.signout import sign_out  # signout is above the web helpers

        await sign_out(self.runtime, session.sid, overdue)
        return None

    async def client(self, conn: Connection, client_id: str) -> ClientRecord | None:
        """A client registration, cached for ``CLIENT_CACHE_TTL`` seconds on the hot sign-in path
        (an operator's change reaches every process within that time).  A disabled client is no
        client: it signs nobody in and gets no token."""
        if not is_client_id(client_id):
            return None
        now = self.runtime.clock.monotonic()
        cached = self._clients.get(client_id)
        if cached is not None and now - cached[0] < CLIENT_CACHE_TTL:
            return cached[1]
        record = await client_store.get(conn, client_id)
        if record is not None and record.disabled:
            record = None
        if len(self._clients) > 10_000:  # unknown ids must not grow this without bound
            self._clients.clear()
        self._clients[client_id] = (now, record)
        return record

    def forget_client(self, client_id: str) -> None:
        """This process changed or removed the client: read it afresh next time."""
        self._clients.pop(client_id, None)

    def csrf(self, purpose: str, binding: str) -> str:
        return csrf_token(self.runtime.secret_key, purpose, binding)

    def csrf_ok(self, purpose: str, binding: str | None, token: str | None) -> bool:
        return binding is not None and check_csrf(self.runtime.secret_key, purpose, binding, token)

    def same_origin_post(self, request: Request) -> bool:
        """False for a POST a browser marked as coming from another site (Origin / Sec-Fetch-Site)."""
        origin = request.headers.get("origin")
        if origin is not None and origin != origin_of(self.config.issuer):
            return False  # includes "null" (sandboxed frames, opaque origins)
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    async def redirect_origins(self) -> frozenset[str]:
        """Origins of every registered redirect URI (for CORS), cached briefly."""
        if self.runtime.clock.monotonic() - self._cors_loaded > CORS_ORIGINS_TTL:
            async with self.db.read() as conn:
                clients = await client_store.list_all(conn)
            for client in clients:
                for uri in client.odd_redirect_uris:  # registered before the rules: skipped, never fatal
                    log.warning("client %s has a redirect URI that is not valid; skipped: %r", client.client_id, uri)
            self._cors_origins = frozenset(o for c in clients for o in c.redirect_origins)
            self._cors_loaded = self.runtime.clock.monotonic()
        return self._cors_origins
