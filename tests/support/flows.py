"""A browser's side of the authorization-code flow, over plain HTTP, and id_token checks."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

from tests.support.idp import PASSWORD, Idp


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden_fields(page: str) -> dict[str, str]:
    return {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


class Reachable(Protocol):
    """What a browser and an RP need of a provider: its issuer and where its paths are."""

    @property
    def issuer(self) -> str: ...

    def url(self, path: str) -> str: ...


class Remote:
    """A provider running as a separate process (or container): requests go to ``base`` (one of
    several behind a load balancer, say), the issuer's origin in what the browser sends."""

    def __init__(self, issuer: str, base: str | None = None) -> None:
        self.issuer = issuer
        self.base = base or issuer

    def url(self, path: str) -> str:
        return self.base + path


@dataclass
class Rp:
    """What a relying party knows about itself."""

    client_id: str
    redirect_uri: str
    secret: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SignIn:
    code: str
    state: str
    nonce: str
    verifier: str
    params: dict[str, str]


class Browser:
    """A cookie jar and the few moves a person's browser makes."""

    def __init__(self, idp: Reachable) -> None:
        self.idp = idp
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.http.close()

    def authorize(self, rp: Rp, **params: str) -> httpx.Response:
        query = {
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            **params,
        }
        return self.http.get(self.idp.url("/authorize") + "?" + urlencode(query))

    def submit_login(self, page: httpx.Response, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
        fields = hidden_fields(page.text)
        return self.http.post(
            self.idp.url("/login"),
            data={**fields, "username": username, "password": password},
            headers={"Origin": self.idp.issuer},
        )

    def sign_in(self, rp: Rp, username: str = "alice", password: str = PASSWORD, **params: str) -> SignIn:
        """authorize → (login form if needed) → redirect with a code."""
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        response = self.authorize(
            rp, state=state, nonce=nonce, code_challenge=challenge, code_challenge_method="S256", **params
        )
        if response.status_code == 200:
            response = self.submit_login(response, username, password)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(rp.redirect_uri + "?"), location
        got = query_of(location)
        assert got.get("state") == state and "code" in got, got
        return SignIn(code=got["code"], state=state, nonce=nonce, verifier=verifier, params=got)

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


def exchange(idp: Reachable, rp: Rp, sign_in: SignIn, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": sign_in.code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": sign_in.verifier,
        **overrides,
    }
    auth = (rp.client_id, rp.secret) if rp.secret else None
    if rp.secret is None:
        data.setdefault("client_id", rp.client_id)
    return httpx.post(idp.url("/token"), data=data, auth=auth, timeout=10)


def verify_id_token(idp: Idp, id_token: str, client_id: str, nonce: str | None = None) -> dict[str, Any]:
    """Validate as a careful RP would: signature against the JWKS, iss, aud, exp, iat, nonce."""
    header = jwt.get_unverified_header(id_token)
    keys = {k["kid"]: k for k in idp.jwks()["keys"]}
    key = jwt.PyJWK(keys[header["kid"]])
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key,
        algorithms=[header["alg"]],
        audience=client_id,
        issuer=idp.issuer,
        options={"require": ["exp", "iat", "sub", "sid"]},
        leeway=idp.clock.offset,  # the provider's clock may have been moved ahead of ours
    )
    if nonce is not None:
        assert claims["nonce"] == nonce
    return claims


def sign_out(browser: Browser, **params: str) -> tuple[httpx.Response, httpx.Response]:
    """GET the end_session_endpoint, then press "Sign out" like a person: (question page, POST answer)."""
    page = browser.http.get(browser.idp.url("/logout"), params=params)
    fields = hidden_fields(page.text)
    answer = browser.http.post(browser.idp.url("/logout/confirm"), data=fields, headers={"Origin": browser.idp.issuer})
    return page, answer


def continue_from(browser: Browser, done_page: httpx.Response, past_wait: Idp | None = None) -> str:
    """Press "Continue" on the logged-out page: the provider's 303 target (RIL §3), unescaped.

    ``past_wait``: first move that provider's clock past EXEUNT_LOGOUT_WAIT, for tests whose
    initiating client cannot be reached (the provider would wait the whole time for it)."""
    if past_wait is not None:
        past_wait.travel(past_wait.config.logout_wait)
    match = re.search(r'id="continue" href="([^"]+)"', done_page.text)
    assert match, "no Continue button on the page"
    href = html.unescape(match.group(1))
    assert href.startswith("/logout/continue/"), href  # always through the provider
    answer = browser.http.get(browser.idp.url(href))
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]
