"""A Shared Signals receiver of our own, written to the CAEP Interoperability Profile, on loopback.

It discovers the transmitter (``/.well-known/ssf-configuration``), gets a client-credentials token
(scopes ``ssf.manage ssf.read``), creates push and poll streams, receives pushed SETs on its own
endpoint (RFC 8935: it answers 202, or as told: ``mode``), polls (RFC 8936), and checks every SET
as a careful receiver would: the signature against the JWKS (RS256), ``typ: secevent+jwt``,
``iss``, ``aud``, ``iat``, ``jti``, a top-level ``sub_id``, no ``sub``, no ``exp``, one event.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import ServerThread, bound_socket
from tests.support.waiting import wait_until

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
STREAM_UPDATED = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"


@dataclass
class Pushed:
    token: str
    content_type: str | None
    authorization: str | None


@dataclass
class ReceiverState:
    pushed: list[Pushed] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    mode: str = "202"


class SsfReceiver:
    """The receiver's server (its push endpoint) and its client side (discovery, token, streams)."""

    def __init__(self, issuer: str, client_id: str, secret: str) -> None:
        self.issuer, self.client_id, self.secret = issuer, client_id, secret
        self.sock = bound_socket()
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.state = ReceiverState()
        self.server: ServerThread | None = None
        self.http = httpx.Client(timeout=20)
        self.config = self.http.get(issuer + "/.well-known/ssf-configuration").json()
        self.access_token = ""

    # -- the server side ----------------------------------------------------------------
    def start(self) -> SsfReceiver:
        state = self.state

        async def events(request: Request) -> Response:
            body = (await request.body()).decode()
            with state.lock:
                state.pushed.append(
                    Pushed(body, request.headers.get("content-type"), request.headers.get("authorization"))
                )
                mode = state.mode
            if mode == "hang":
                await asyncio.sleep(3600)
            if mode == "400":
                return JSONResponse({"err": "invalid_key", "description": "cannot verify"}, status_code=400)
            return Response(status_code=int(mode))

        app = Starlette(routes=[Route("/events", events, methods=["POST"]), Route("/other", events, methods=["POST"])])
        self.server = ServerThread(app, self.sock).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.http.close()

    def pushed(self) -> list[dict[str, Any]]:
        """Every pushed SET so far, each checked, as its claims."""
        with self.state.lock:
            tokens = [p.token for p in self.state.pushed]
        return [self.check(t) for t in tokens]

    def wait_pushed(self, count: int, *, timeout: float = 15.0, kind: str | None = None) -> list[dict[str, Any]]:
        def arrived() -> list[dict[str, Any]] | None:
            found = [c for c in self.pushed() if kind is None or kind in c["events"]]
            return found if len(found) >= count else None

        return wait_until(arrived, timeout=timeout, what=f"{count} pushed SET(s) at {self.client_id}")

    # -- checking a SET ----------------------------------------------------------------
    def check(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "secevent+jwt" and header["alg"] == "RS256", header
        keys = {k["kid"]: k for k in self.http.get(self.config["jwks_uri"]).json()["keys"]}
        key = jwt.PyJWK(keys[header["kid"]])
        assert key.key.key_size >= 2048  # type: ignore[union-attr]
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=self.client_id,
            issuer=self.issuer,
            options={"require": ["iss", "aud", "iat", "jti"], "verify_iat": False},
        )
        assert "sub" not in claims and "exp" not in claims, claims  # SSF §4.1.2, §4.1.6
        assert isinstance(claims["sub_id"], dict) and "format" in claims["sub_id"]
        assert len(claims["events"]) == 1  # interop profile §2.7
        return claims

    # -- the client side ----------------------------------------------------------------
    def token(self, scope: str = "ssf.manage ssf.read", *, keep: bool = True) -> str:
        """A client-credentials access token (kept for the calls that follow unless ``keep`` is false)."""
        answer = self.http.post(
            self.issuer + "/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(self.client_id, self.secret),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        if keep:
            self.access_token = token
        return token

    def call(self, method: str, url: str, *, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.access_token}", **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kw)

    def create_push(self, *, path: str = "/events", **extra: Any) -> dict[str, Any]:
        body = {"delivery": {"method": PUSH, "endpoint_url": self.base + path, **extra.pop("delivery", {})}, **extra}
        answer = self.call("POST", self.config["configuration_endpoint"], json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def create_poll(self, **extra: Any) -> dict[str, Any]:
        answer = self.call("POST", self.config["configuration_endpoint"], json={"delivery": {"method": POLL}, **extra})
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def poll(self, stream: dict[str, Any], **body: Any) -> dict[str, Any]:
        answer = self.call("POST", stream["delivery"]["endpoint_url"], json=body)
        assert answer.status_code == 200, answer.text
        polled: dict[str, Any] = answer.json()
        return polled

    def poll_all(self, stream: dict[str, Any]) -> list[dict[str, Any]]:
        """Poll until nothing is left, acknowledging as it goes; the checked claims of every SET."""
        found: list[dict[str, Any]] = []
        ack: list[str] = []
        for _ in range(50):
            polled = self.poll(stream, ack=ack, returnImmediately=True, maxEvents=100)
            found += [self.check(token) for token in polled["sets"].values()]
            ack = list(polled["sets"])
            if not polled["sets"]:
                return found
        raise AssertionError("polling never ran dry")

    def set_status(self, stream: dict[str, Any], status: str) -> httpx.Response:
        return self.call(
            "POST", self.config["status_endpoint"], json={"stream_id": stream["stream_id"], "status": status}
        )


def register_receiver(idp: Any, name: str, *, all_subjects: bool = False, redirect: bool = True) -> SsfReceiver:
    """A client that signs people in (so they are its people) and receives Shared Signals."""
    extra: dict[str, Any] = {"grant_types": ["client_credentials"]}
    redirect_uris = [f"http://127.0.0.1:9/{name}/cb"] if redirect else []
    if redirect:
        extra["grant_types"] = ["authorization_code", "client_credentials"]
    secret = idp.add_client(
        name,
        redirect_uris,
        scopes=["ssf.manage", "ssf.read", "global_token_revocation"],
        all_subjects=all_subjects,
        **extra,
    )
    receiver = SsfReceiver(idp.issuer, name, secret).start()
    receiver.token()
    return receiver
