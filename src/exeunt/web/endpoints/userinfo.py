"""The userinfo endpoint (OpenID Connect Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.storage import users as user_store
from exeunt.web.errors import NO_STORE
from exeunt.web.params import BadParameters, parse_urlencoded, read_body
from exeunt.web.provider import Provider


def _bearer_error(error: str | None, description: str, status: int = 401) -> Response:
    challenge = 'Bearer realm="exeunt"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    body = {"error": error or "invalid_request", "error_description": description}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, "WWW-Authenticate": challenge})


async def _access_token(request: Request, limit: int) -> str | Response:
    """RFC 6750 §2.1 (the Authorization header) or §2.2 (a form-encoded POST body); never the query
    (§2.3 would leak it into logs), and never two ways at once (§2: MUST NOT use more than one)."""
    header = request.headers.get("authorization", "")
    in_header = header[:7].lower() == "bearer "
    in_body = None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        try:
            in_body = parse_urlencoded(await read_body(request, limit)).get("access_token")
        except BadParameters as exc:
            return _bearer_error("invalid_request", exc.description, 400)
    if in_header and in_body is not None:
        return _bearer_error("invalid_request", "send the access token one way, not two", 400)
    if in_body is not None:
        return in_body.strip()
    if not in_header:
        return _bearer_error(None, "an access token is required")
    return header[7:].strip()


async def userinfo(request: Request) -> Response:
    provider = Provider.of(request)
    found = await _access_token(request, provider.config.max_body_bytes)
    if isinstance(found, Response):
        return found
    access_token = found
    if not access_token or len(access_token) > 512:
        return _bearer_error("invalid_token", "the access token is malformed")
    now = provider.now()
    async with provider.db.read() as conn:
        record = await grants.get_access_token(conn, sha256_hex(access_token))
        if record is None or record.revoked_at is not None or now >= record.expires_at:
            return _bearer_error("invalid_token", "the access token is unknown, expired or revoked")
        user = await user_store.get(conn, record.user_id)
    if user is None:
        return _bearer_error("invalid_token", "the user no longer exists")
    scopes = set(record.scope.split())
    claims: dict[str, Any] = {"sub": user.sub}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = False
    return JSONResponse(claims, headers=NO_STORE)
