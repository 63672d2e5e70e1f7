"""``GET /logout/status/{id}``: back-channel progress of one sign-out, for the logged-out page.

The id is 256 random bits known only to the browser that signed out, and the record expires with
the page (15 minutes), so the answer (client ids and states) leaks nothing to anyone else.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.protocol.identifiers import is_random_id
from exeunt.storage import outbox
from exeunt.storage import signouts as signout_store
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider


async def signout_status(request: Request) -> Response:
    provider = Provider.of(request)
    signout_id = request.path_params["signout_id"]
    async with provider.db.read() as conn:
        signout = await signout_store.get(conn, signout_id) if is_random_id(signout_id) else None
        if signout is None or provider.now() >= signout.expires_at:
            return JSONResponse({"error": "not_found"}, status_code=404, headers=NO_STORE)
        deliveries = await outbox.of_signout(conn, signout_id)
    return JSONResponse({"backchannel": {d.client_id: d.state.value for d in deliveries}}, headers=NO_STORE)
