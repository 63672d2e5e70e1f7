"""Reading a POST of one of our own forms (sign-in, sign-out): readable, and sent from our origin."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from exeunt.web.errors import error_page
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider


async def read_own_form(request: Request, *, form: str, cross_site: str) -> dict[str, str] | Response:
    """The form's fields, or the page to answer with: the body cannot be read, or the browser says the
    POST came from another site (``cross_site`` tells the person what did not happen)."""
    provider = Provider.of(request)
    try:
        fields = await read_params(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        return error_page(request, f"{form} form could not be read", exc.description, exc.status)
    if not provider.same_origin_post(request):
        return error_page(request, f"{form} refused", cross_site, 403)
    return fields
