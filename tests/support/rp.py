"""A small but real server-side relying party, served on loopback, that records what reaches it.

It signs users in through the provider (code + PKCE, id_token checked against the JWKS), keeps
its own session cookie, and records every front-channel, back-channel and post-logout request.
Its back-channel endpoint can be told how to answer (``mode``), so delivery tests can make a
client that is slow, broken, redirecting or picky.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.flows import pkce_pair
from tests.support.servers import ServerThread, bound_socket
from tests.support.waiting import wait_until


@dataclass
class Event:
    kind: str  # "frontchannel" | "backchannel" | "post_logout" | "signed_in"
    at: float
    data: dict[str, Any]


@dataclass
class RpState:
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # our cookie → claims
    mode: str = "200"
    calls: int = 0
    confirm_frontchannel: bool = False  # answer the front-channel iframe with the postMessage confirmation

    def record(self, kind: str, **data: Any) -> None:
        with self.lock:
            self.events.append(Event(kind, time.monotonic(), data))


class RecordingRp:
    def __init__(self, name: str, *, host: str = "127.0.0.1") -> None:
        self.name = name
        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        self.base = f"http://{host}:{self.port}"
        self.state = RpState()
        self.client_id = name
        self.secret: str | None = None
        self.issuer = ""
        self.server: ServerThread | None = None

    # -- registration helpers --------------------------------------------------------
    @property
    def redirect_uri(self) -> str:
        return self.base + "/cb"

    def metadata(self, *, frontchannel: bool = False, backchannel: bool = False, query: str = "") -> dict[str, Any]:
        meta: dict[str, Any] = {"post_logout_redirect_uris": [self.base + "/bye"]}
        if frontchannel:
            meta["frontchannel_logout_uri"] = self.base + "/fc" + query
            meta["frontchannel_logout_session_required"] = True
        if backchannel:
            meta["backchannel_logout_uri"] = self.base + "/bc" + query
            meta["backchannel_logout_session_required"] = True
        return meta

    def start(self, issuer: str, secret: str | None) -> RecordingRp:
        self.issuer, self.secret = issuer, secret
        self.server = ServerThread(self._app(), self.sock).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        else:  # never started (its test failed first): close the socket it holds
            self.sock.close()

    # -- what tests read -------------------------------------------------------------
    def events(self, kind: str) -> list[Event]:
        with self.state.lock:
            return [e for e in self.state.events if e.kind == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[Event]:

        def arrived() -> list[Event] | None:
            found = self.events(kind)
            return found if len(found) >= count else None

        try:
            return wait_until(arrived, timeout=timeout)
        except AssertionError:
            raise AssertionError(
                f"{self.name}: expected {count} {kind} event(s), got {len(self.events(kind))}"
            ) from None

    # -- the app -----------------------------------------------------------------------
    def _app(self) -> Starlette:
        state = self.state
        rp = self

        async def home(request: Request) -> Response:
            cookie = request.cookies.get(f"rp_{rp.name}")
            claims = state.sessions.get(cookie or "")
            status = f"signed in as {claims['sub']} sid={claims['sid']}" if claims else "signed out"
            body = f"<h1>{rp.name}</h1><p id='status'>{html.escape(status)}</p>"
            if claims:
                body += (
                    f"<form id='logout-post' method='post' action='{rp.issuer}/logout'>"
                    f"<input type='hidden' name='id_token_hint' value='{claims['_raw']}'>"
                    f"<input type='hidden' name='post_logout_redirect_uri' value='{rp.base}/bye'>"
                    "<input type='hidden' name='state' value='post-state'>"
                    "<button type='submit'>Sign out (POST)</button></form>"
                    f"<a id='logout-get' href='{rp.issuer}/logout?"
                    + html.escape(
                        urlencode(
                            {
                                "id_token_hint": claims["_raw"],
                                "post_logout_redirect_uri": rp.base + "/bye",
                                "state": "get-state",
                            }
                        )
                    )
                    + "'>Sign out (GET)</a>"
                )
            return HTMLResponse(body, headers={"Cache-Control": "no-store"})

        async def login(request: Request) -> Response:
            verifier, challenge = pkce_pair()
            st, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
            state.pending[st] = {"verifier": verifier, "nonce": nonce}
            query = urlencode(
                {
                    "client_id": rp.client_id,
                    "redirect_uri": rp.redirect_uri,
                    "response_type": "code",
                    "scope": "openid",
                    "state": st,
                    "nonce": nonce,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    **dict(request.query_params),  # e.g. ui_locales, passed on as the application asks
                }
            )
            return RedirectResponse(f"{rp.issuer}/authorize?{query}", status_code=303)

        async def callback(request: Request) -> Response:
            st = request.query_params.get("state", "")
            pending = state.pending.pop(st, None)
            if pending is None or "code" not in request.query_params:
                failure = html.escape(str(dict(request.query_params)))
                return HTMLResponse(f"<p id='status'>sign-in failed: {failure}</p>", status_code=400)
            async with httpx.AsyncClient() as http:
                token = (
                    await http.post(
                        f"{rp.issuer}/token",
                        auth=(rp.client_id, rp.secret or ""),
                        data={
                            "grant_type": "authorization_code",
                            "code": request.query_params["code"],
                            "redirect_uri": rp.redirect_uri,
                            "code_verifier": pending["verifier"],
                        },
                    )
                ).json()
                jwks = (await http.get(f"{rp.issuer}/jwks")).json()
            header = jwt.get_unverified_header(token["id_token"])
            key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
            claims = jwt.decode(
                token["id_token"], key, algorithms=[header["alg"]], audience=rp.client_id, issuer=rp.issuer
            )
            assert claims["nonce"] == pending["nonce"]
            claims["_raw"] = token["id_token"]
            cookie = secrets.token_urlsafe(16)
            state.sessions[cookie] = claims
            state.record("signed_in", sid=claims["sid"], sub=claims["sub"], id_token=token["id_token"])
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(f"rp_{rp.name}", cookie, httponly=True, samesite="lax")
            return response

        async def frontchannel(request: Request) -> Response:
            state.record("frontchannel", query=dict(request.query_params))
            sid = request.query_params.get("sid")
            for key in [k for k, v in state.sessions.items() if v["sid"] == sid]:
                del state.sessions[key]
            if state.confirm_frontchannel:
                origin = "http://" + rp.issuer.split("://", 1)[1].split("/", 1)[0]
                body = f'<script>parent.postMessage("exeunt:signed-out", "{origin}");</script>'
                return HTMLResponse(body, headers={"Cache-Control": "no-store"})
            return Response("", headers={"Cache-Control": "no-store"})

        async def backchannel(request: Request) -> Response:
            body = (await request.body()).decode()
            state.calls += 1
            mode = state.mode
            state.record(
                "backchannel",
                body=body,
                content_type=request.headers.get("content-type"),
                attempt=state.calls,
                query=dict(request.query_params),
                mode=mode,
            )
            if mode == "hang":
                await asyncio.sleep(3600)
            if mode == "slow":  # answers 200, after a noticeable pause
                await asyncio.sleep(0.3)
                mode = "200"
            if mode == "500-then-200":
                if state.calls == 1:
                    return Response("try later", status_code=500)
                mode = "200"
            if mode == "redirect":
                return RedirectResponse(rp.base + "/elsewhere", status_code=302)
            code = int(mode)
            return Response(
                "" if code < 300 else '{"error":"invalid_request"}',
                status_code=code,
                headers={"Cache-Control": "no-store"},
            )

        async def bye(request: Request) -> Response:
            state.record("post_logout", query=dict(request.query_params), raw_query=request.url.query)
            return HTMLResponse(f"<p id='status'>{rp.name}: back after sign-out</p>")

        async def elsewhere(request: Request) -> Response:
            state.record("redirect_followed")
            return Response("")

        return Starlette(
            routes=[
                Route("/", home),
                Route("/login", login),
                Route("/cb", callback),
                Route("/fc", frontchannel),
                Route("/bc", backchannel, methods=["POST"]),
                Route("/bye", bye),
                Route("/elsewhere", elsewhere, methods=["GET", "POST"]),
            ]
        )


def register(idp: Any, rp: RecordingRp, **metadata: Any) -> RecordingRp:
    """Register ``rp`` with the provider and start it."""
    secret = idp.add_client(rp.client_id, [rp.redirect_uri], name=rp.name.title(), **metadata)
    return rp.start(idp.issuer, secret)
