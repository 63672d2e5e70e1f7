"""Reading request parameters strictly: UTF-8 only, no duplicates, bounded bodies.

Starlette would quietly replace bad bytes and keep the last of a repeated parameter; for a
protocol endpoint both are errors the client must hear about (RFC 6749 §3.1: "Request and
response parameters MUST NOT be included more than once").
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from exeunt.errors import OAuthError


class BadParameters(OAuthError):
    """The request's parameters cannot be read (``invalid_request``; 413 for a body too large)."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__("invalid_request", description, status)


def parse_urlencoded(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise BadParameters("parameters must be UTF-8 encoded") from exc
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in out:
            raise BadParameters(f"parameter {name!r} is repeated")
        if "\x00" in value or "\x00" in name:
            raise BadParameters("parameters must not contain NUL characters")
        out[name] = value
    return out


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadParameters("request body is too large", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadParameters("request body is too large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request, limit: int) -> dict[str, str]:
    """Query parameters for GET, form parameters for POST (query parameters on a POST are ignored)."""
    if request.method != "POST":
        return parse_urlencoded(request.scope.get("query_string", b""))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit)
    if not body and not content_type:
        return {}  # an empty POST (no body, no Content-Type) carries no parameters: not an error
    if content_type != "application/x-www-form-urlencoded":
        raise BadParameters("the body must be application/x-www-form-urlencoded", status=400)
    return parse_urlencoded(body)
