"""Reading a POST of one of our own forms (sign-in, sign-out): readable, and sent from our origin."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from exeunt.web.errors import error_page
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider
from exeunt.words import N_

log = logging.getLogger("exeunt.forms")
UNREADABLE = N_("Nothing was changed. Open the page again and send the form once more.")


async def read_own_form(request: Request, *, refused: str, cross_site: str) -> dict[str, str] | Response:
    """The form's fields, or the page to answer with: the body cannot be read, or the browser says the
    POST came from another site (``refused`` is that page's title, ``cross_site`` tells the person what
    did not happen; both N_-marked)."""
    provider = Provider.of(request)
    try:
        fields = await read_params(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        log.info("own form unreadable: %s", exc.description)
        return error_page(request, N_("The form could not be read"), UNREADABLE, exc.status)
    if not provider.same_origin_post(request):
        return error_page(request, refused, cross_site, 403)
    return fields
