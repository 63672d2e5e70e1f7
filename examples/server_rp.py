"""A small, complete server-side relying party: the "Notes" and "Billing" apps of `exeunt demo`.

Read it as a reference for your own app. It signs users in with the authorization-code flow and
PKCE, checks the id_token against the provider's JWKS, keeps its own session cookie, and signs out
by one of two techniques:

* front-channel (Notes): the provider's logged-out page loads ``/frontchannel-logout?iss=…&sid=…``
  in a hidden iframe.  A cross-site iframe does not carry our cookie, so the local session is
  found by ``sid``, never by cookie.
* back-channel (Billing): the provider POSTs a logout token to ``/backchannel-logout``.  It is
  validated as Back-Channel Logout 1.0 §2.6 says: signature against the JWKS, ``typ``, ``iss``,
  ``aud``, ``iat``/``exp``, ``events``, no ``nonce``, and a ``jti`` not seen before.

Each page shows who is signed in (the name from the provider's userinfo; the opaque ``sub`` and
``sid`` under "details") and the sign-out notifications it received: this browser's session first,
then those of other browsers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class RpState:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # our cookie → id_token claims
    sids_of_cookie: dict[str, list[str]] = field(default_factory=dict)  # kept after sign-out: this browser's sessions
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # state → nonce, PKCE verifier
    seen_jtis: set[str] = field(default_factory=set)
    log: list[tuple[str, str]] = field(default_factory=list)  # (sid, line)

    def note(self, sid: str, line: str) -> None:
        self.log.append((sid, time.strftime("%H:%M:%S ") + line))

    @staticmethod
    def sessions_ended(count: int) -> str:
        return "no local session was open" if count == 0 else f"{count} local session{'s' if count > 1 else ''} ended"

    def end_sid(self, sid: str) -> int:
        ended = [cookie for cookie, claims in self.sessions.items() if claims.get("sid") == sid]
        for cookie in ended:
            del self.sessions[cookie]
        return len(ended)


class ServerRp:
    def __init__(
        self, *, name: str, title: str, technique: str, base: str, issuer: str, client_id: str, secret: str
    ) -> None:
        assert technique in ("frontchannel", "backchannel")
        self.name, self.title, self.technique = name, title, technique
        self.base, self.issuer, self.client_id, self.secret = base, issuer, client_id, secret
        self.state = RpState()
        self.cookie = f"{name}_session"
        self._jwks: dict[str, Any] | None = None

    # -- registration, as `exeunt clients add` or a seed file would do it -------------------
    def registration(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.title,
            "secret": self.secret,
            "redirect_uris": [self.base + "/callback"],
            "post_logout_redirect_uris": [self.base + "/"],
        }
        if self.technique == "frontchannel":
            meta.update(
                frontchannel_logout_uri=self.base + "/frontchannel-logout", frontchannel_logout_session_required=True
            )
        else:
            meta.update(
                backchannel_logout_uri=self.base + "/backchannel-logout", backchannel_logout_session_required=True
            )
        return meta

    # -- helpers -------------------------------------------------------------------------
    async def _key_for(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for attempt in range(2):  # refetch once: the provider may have rotated its keys
            if self._jwks is None or attempt:
                async with httpx.AsyncClient() as http:
                    self._jwks = (await http.get(self.issuer + "/jwks")).json()
            for key in self._jwks["keys"]:
                if key["kid"] == kid:
                    return jwt.PyJWK(key)
        raise jwt.InvalidTokenError("unknown kid")

    def _claims(self, request: Request) -> dict[str, Any] | None:
        return self.state.sessions.get(request.cookies.get(self.cookie, ""))

    # -- pages -----------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        explain = (
            "it learns of sign-outs by <b>front-channel</b>: the provider's logged-out page loads a hidden "
            "iframe of this app"
            if self.technique == "frontchannel"
            else "it learns of sign-outs by <b>back-channel</b>: the provider POSTs a signed logout token to this "
            "app's server, which validates it"
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{self.title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#1d2330}}
.status{{padding:.8rem 1rem;border-radius:8px;background:#eef3ff}} .out{{background:#fdecea}}
a.button,button{{display:inline-block;padding:.5rem 1rem;border-radius:6px;background:#2f5bd3;color:#fff;
text-decoration:none;border:0;font:inherit}} code{{font-size:.85rem}} li{{font-family:monospace}}
.muted{{color:#5b6475}} details{{margin:.5rem 0;color:#5b6475}}</style></head>
<body><h1>{self.title}</h1><p>A sample app signed in through exeunt; {explain}.</p>
<div id="status" class="status">…</div><details id="details"><summary>details</summary>
<p>sub <code id="sub"></code><br>sid <code id="sid"></code></p></details><p id="actions"></p>
<h2>This browser's session</h2><ul id="log"></ul>
<h2>Other sessions</h2><p class="muted" id="others-empty">none yet: other browsers' sign-ins and
sign-outs show here</p><ul id="others"></ul>
<script>
function lines(list) {{ return list.map(l => "<li>" + l + "</li>").join(""); }}
function put(id, markup) {{  // only when it changed: a button replaced every second cannot be clicked
  const el = document.getElementById(id);
  if (el.innerHTML !== markup) el.innerHTML = markup;
}}
async function refresh() {{
  const s = await (await fetch("/state", {{cache: "no-store"}})).json();
  const box = document.getElementById("status");
  box.className = "status" + (s.signed_in || !s.was_signed_in ? "" : " out");
  const out = s.was_signed_in ? "Signed out" : "Not signed in yet";
  put("status", s.signed_in ? "Signed in as <b>" + s.name + "</b>" : out);
  document.getElementById("details").hidden = !s.signed_in;
  document.getElementById("sub").textContent = s.sub || "";
  document.getElementById("sid").textContent = s.sid || "";
  put("actions", s.signed_in
    ? '<a class="button" id="sign-out" href="/logout">Sign out</a>'
    : '<a class="button" id="sign-in" href="/login">Sign in</a>');
  put("log", lines(s.log));
  put("others", lines(s.others));
  document.getElementById("others-empty").hidden = s.others.length > 0;
}}
refresh(); setInterval(refresh, 1000);
</script></body></html>"""
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def state_json(self, request: Request) -> Response:
        claims = self._claims(request)
        mine = set(self.state.sids_of_cookie.get(request.cookies.get(self.cookie, ""), []))
        return JSONResponse(
            {
                "signed_in": claims is not None,
                "was_signed_in": bool(mine),  # this browser had a session here: "signed out", not "not signed in"
                "name": html.escape(claims.get("_name") or claims["sub"]) if claims else None,
                "sub": claims["sub"] if claims else None,  # shown with textContent
                "sid": claims["sid"] if claims else None,
                "log": [html.escape(line) for sid, line in self.state.log if sid in mine],
                "others": [html.escape(line) for sid, line in self.state.log if sid not in mine],
            },
            headers={"Cache-Control": "no-store"},
        )

    # -- signing in --------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        st, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.state.pending[st] = {"verifier": verifier, "nonce": nonce}
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.base + "/callback",
                "response_type": "code",
                "scope": "openid profile",
                "state": st,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return RedirectResponse(f"{self.issuer}/authorize?{query}", status_code=303)

    async def callback(self, request: Request) -> Response:
        pending = self.state.pending.pop(request.query_params.get("state", ""), None)
        if pending is None or "code" not in request.query_params:
            error = html.escape(request.query_params.get("error", "unexpected answer"))
            return HTMLResponse(f"<p>Sign-in did not complete: {error}. <a href='/'>Back</a></p>", status_code=400)
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                self.issuer + "/token",
                auth=(self.client_id, self.secret),
                data={
                    "grant_type": "authorization_code",
                    "code": request.query_params["code"],
                    "redirect_uri": self.base + "/callback",
                    "code_verifier": pending["verifier"],
                },
            )
        tokens = answer.json()
        token = tokens["id_token"]
        claims = jwt.decode(
            token,
            await self._key_for(token),
            algorithms=["RS256", "ES256"],
            audience=self.client_id,
            issuer=self.issuer,
        )
        if claims.get("nonce") != pending["nonce"]:
            return HTMLResponse("<p>Sign-in refused: nonce mismatch.</p>", status_code=400)
        claims["_id_token"] = token
        claims["_name"] = await self._name(tokens["access_token"])
        earlier = request.cookies.get(self.cookie, "")
        cookie = secrets.token_urlsafe(24)
        self.state.sessions[cookie] = claims
        # This browser's earlier sessions stay "this browser's" (its log, not "other sessions").
        self.state.sids_of_cookie[cookie] = [*self.state.sids_of_cookie.pop(earlier, []), claims["sid"]]
        self.state.note(claims["sid"], f"signed in as {claims['_name'] or claims['sub']}, sid {claims['sid'][:12]}…")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(self.cookie, cookie, httponly=True, samesite="lax")
        return response

    async def _name(self, access_token: str) -> str | None:
        """The person's name from the provider's userinfo endpoint (scope ``profile``)."""
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(self.issuer + "/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        name = answer.json().get("name") if answer.status_code == 200 else None
        return name if isinstance(name, str) else None

    async def logout(self, request: Request) -> Response:
        """RP-initiated logout: send the browser to the provider's end_session_endpoint."""
        claims = self._claims(request)
        query = {"post_logout_redirect_uri": self.base + "/", "state": secrets.token_urlsafe(8)}
        if claims:
            query["id_token_hint"] = claims["_id_token"]
        return RedirectResponse(f"{self.issuer}/logout?{urlencode(query)}", status_code=303)

    # -- being signed out -------------------------------------------------------------------
    async def frontchannel_logout(self, request: Request) -> Response:
        iss, sid = request.query_params.get("iss"), request.query_params.get("sid")
        if iss == self.issuer and sid:
            ended = self.state.end_sid(sid)
            self.state.note(sid, f"front-channel: sid {sid[:12]}… ended ({self.state.sessions_ended(ended)})")
            # Tell the provider's logged-out page it is done, so its line says "signed out (it
            # confirmed)" instead of only "asked" (exeunt believes it only from this iframe, this origin).
            origin = json.dumps(origin_of(self.issuer))
            confirm = f'<!doctype html><script>parent.postMessage("exeunt:signed-out", {origin});</script>'
            return HTMLResponse(confirm, headers={"Cache-Control": "no-store"})
        return Response("", headers={"Cache-Control": "no-store"})

    async def backchannel_logout(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))  # application/x-www-form-urlencoded
        token = form.get("logout_token", [""])[0]
        try:
            claims = await self._validate_logout_token(token)
        except (jwt.InvalidTokenError, ValueError) as exc:
            self.state.note("", f"back-channel: refused a logout token ({exc})")
            return JSONResponse(
                {"error": "invalid_request", "error_description": str(exc)},
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )
        ended = self.state.end_sid(claims["sid"])
        reason = claims.get("exeunt_reason", "")  # why the session ended (a private claim of exeunt)
        self.state.note(
            claims["sid"],
            f"back-channel: logout token for sid {claims['sid'][:12]}… ({self.state.sessions_ended(ended)})"
            + (f", because: {reason}" if reason else ""),
        )
        return Response("", headers={"Cache-Control": "no-store"})

    async def _validate_logout_token(self, token: str) -> dict[str, Any]:
        if jwt.get_unverified_header(token).get("typ") != "logout+jwt":
            raise ValueError("typ is not logout+jwt")
        claims: dict[str, Any] = jwt.decode(
            token,
            await self._key_for(token),
            algorithms=["RS256", "ES256"],
            audience=self.client_id,
            issuer=self.issuer,
            leeway=60,
            options={"require": ["iat", "exp", "jti", "events"]},
        )
        if json.dumps(claims["events"], sort_keys=True) != json.dumps({BACKCHANNEL_EVENT: {}}):
            raise ValueError("events is not the back-channel logout event")
        if "nonce" in claims:
            raise ValueError("a logout token must not have a nonce")
        if "sid" not in claims:
            raise ValueError("this app needs sid (backchannel_logout_session_required)")
        if claims["jti"] in self.state.seen_jtis:
            raise ValueError("jti seen before (a replay)")
        self.state.seen_jtis.add(claims["jti"])
        return claims

    def app(self) -> Starlette:
        routes = [
            Route("/", self.home),
            Route("/state", self.state_json),
            Route("/login", self.login),
            Route("/callback", self.callback),
            Route("/logout", self.logout),
        ]
        if self.technique == "frontchannel":
            routes.append(Route("/frontchannel-logout", self.frontchannel_logout))
        else:
            routes.append(Route("/backchannel-logout", self.backchannel_logout, methods=["POST"]))
        return Starlette(routes=routes)
