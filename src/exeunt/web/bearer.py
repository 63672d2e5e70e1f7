"""Reading an access token from a request (RFC 6750 §2), for userinfo, the Shared Signals API and
Global Token Revocation.  Refusals are ``BearerError``s with the challenge RFC 6750 §3 asks for."""

from __future__ import annotations

from starlette.requests import Request

from exeunt.errors import BearerError
from exeunt.web.params import BadParameters, parse_urlencoded, read_body

MAX_TOKEN_LENGTH = 512


async def bearer_token(request: Request, *, limit: int, body_allowed: bool = False, realm: str = "exeunt") -> str:
    """The access token of ``request``: from the Authorization header (§2.1), or, where
    ``body_allowed``, a form-encoded POST body (§2.2); never the query (§2.3 would leak it into logs),
    and never two ways at once (§2: MUST NOT use more than one)."""
    header = request.headers.get("authorization", "")
    in_header = header[:7].lower() == "bearer "
    in_body = None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body_allowed and request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        try:
            in_body = parse_urlencoded(await read_body(request, limit)).get("access_token")
        except BadParameters as exc:
            raise BearerError("invalid_request", exc.description, realm=realm) from None
    if in_header and in_body is not None:
        raise BearerError("invalid_request", "send the access token one way, not two", realm=realm)
    token = in_body.strip() if in_body is not None else header[7:].strip() if in_header else None
    if token is None:  # one in the query is not taken: as if none was sent
        where = "Authorization header" + (" or a form body" if body_allowed else "")
        raise BearerError(None, f"an access token is required, in the {where} (never the query)", realm=realm)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise BearerError("invalid_token", "the access token is malformed", realm=realm)
    return token
