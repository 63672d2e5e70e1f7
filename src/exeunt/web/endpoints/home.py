"""The provider's own page: who is signed in here, and the way to sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider


async def home(request: Request) -> Response:
    provider = Provider.of(request)
    session = await provider.live_session_ending_overdue(request)
    user = None
    apps: list[str] = []
    if session is not None:
        async with provider.db.read() as conn:
            user = await user_store.get(conn, session.user_id)
            apps = [c.name for c in await session_store.participants(conn, session.sid)]
    return provider.templates.TemplateResponse(request, "home.html", {"user": user, "apps": apps}, headers=NO_STORE)
