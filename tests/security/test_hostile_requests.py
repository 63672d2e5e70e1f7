"""A seeded generator of hostile requests across every route, on SQLite and PostgreSQL (issue 14 B5):
no answer is a 5xx and nothing is logged as an unexpected error.

Each request mixes real material (a registered client, its secret, a live session cookie, a real
code, a real id_token) with hostile values (NUL, Unicode digits, huge numbers, overlong strings,
CR/LF, broken base64, wrong types of body), so it gets past the first checks and reaches deeper
code.  The seed is printed on failure; a failing request can be replayed from it.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.support.flows import Browser, Rp, exchange
from tests.support.idp import Idp

REQUESTS = int(os.environ.get("EXEUNT_HOSTILE_REQUESTS", "1200"))
REDIRECT = "http://localhost:5173/cb"

HOSTILE = [
    "",
    "\x00",
    "a\x00b",
    "²",
    "٣",
    "-1",
    "0",
    "9" * 40,
    "86400000000000",
    "1e309",
    "a" * 5000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\r\nX-Injected: yes",
    "../../../etc/passwd",
    "é",
    "😀",
    "javascript:alert(1)",
    "http://evil.example/cb",
    "openid",
    "none",
    "login consent",
    "S256",
    "plain",
    "code",
    "token",
    "%",
    "%zz",
    "[",
    "{}",
    "null",
]
PATHS = [
    "/",
    "/authorize",
    "/login",
    "/token",
    "/userinfo",
    "/logout",
    "/logout/confirm",
    "/logout/done/{id}",
    "/logout/status/{id}",
    "/session/check",
    "/session/check/origins",
    "/.well-known/openid-configuration",
    "/jwks",
    "/static/exeunt.css",
    "/static/{id}",
    "/{id}",
]
NAMES = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "id_token_hint",
    "post_logout_redirect_uri",
    "grant_type",
    "code",
    "code_verifier",
    "client_secret",
    "access_token",
    "csrf",
    "pending",
    "username",
    "password",
    "r",
    "request",
    "response_mode",
]


class Material:
    """Real values an attacker could hold, to get past the first checks."""

    def __init__(self, idp: Idp) -> None:
        idp.add_user("alice")
        self.secret = idp.add_client("notes", [REDIRECT], post_logout_redirect_uris=["http://localhost:5173/bye"])
        self.rp = Rp("notes", REDIRECT, self.secret)
        browser = Browser(idp)
        signed_in = browser.sign_in(self.rp)
        self.code = browser.sign_in(self.rp).code  # an unspent code
        tokens = exchange(idp, self.rp, signed_in).json()
        self.access_token = tokens["access_token"]
        self.id_token = tokens["id_token"]
        self.cookies = dict(browser.http.cookies)
        browser.close()

    def value(self, rng: random.Random, name: str) -> str:
        real = {
            "client_id": "notes",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid profile",
            "code": self.code,
            "grant_type": "authorization_code",
            "id_token_hint": self.id_token,
            "access_token": self.access_token,
            "client_secret": self.secret or "",
            "post_logout_redirect_uri": "http://localhost:5173/bye",
            "username": "alice",
        }
        if name in real and rng.random() < 0.5:
            value = real[name]
            if rng.random() < 0.3:  # a real value, damaged
                cut = rng.randrange(len(value) + 1)
                value = value[:cut] + rng.choice(HOSTILE) + value[cut:]
            return value
        return rng.choice(HOSTILE)


def _basic(rng: random.Random, material: Material) -> str:
    user = rng.choice(["notes", "notes\x00", "", "nobody", "a" * 300, "é"])
    password = rng.choice([material.secret or "", "wrong", "\x00", "é" * 10])
    raw = f"{quote(user, safe='')}:{quote(password, safe='')}".encode()
    encoded = base64.b64encode(raw).decode()
    return "Basic " + rng.choice([encoded, encoded[:-2], "!!!notbase64", base64.b64encode(b"no-colon").decode()])


def hostile_request(rng: random.Random, idp: Idp, material: Material) -> dict[str, Any]:
    path = rng.choice(PATHS).replace("{id}", quote(rng.choice(HOSTILE + ["x" * 43]), safe=""))
    method = rng.choices(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"], weights=[45, 45, 2, 2, 4, 2])[0]
    params = {name: material.value(rng, name) for name in rng.sample(NAMES, rng.randint(0, 8))}
    headers: dict[str, str] = {}
    if rng.random() < 0.4:
        headers["Cookie"] = "; ".join(
            f"{k}={v if rng.random() < 0.7 else quote(rng.choice(HOSTILE), safe='')}"
            for k, v in material.cookies.items()
        )
    if rng.random() < 0.3:
        headers["Authorization"] = rng.choice(
            [_basic(rng, material), f"Bearer {material.access_token}", "Bearer " + quote(rng.choice(HOSTILE)), "Basic"]
        )
    if rng.random() < 0.3:
        headers["Origin"] = rng.choice([idp.issuer, "http://localhost:5173", "null", "http://evil.example"])
    if rng.random() < 0.2:
        headers["Sec-Fetch-Site"] = rng.choice(["same-origin", "cross-site", "none", "é"])
    if rng.random() < 0.2:
        headers["Access-Control-Request-Method"] = "POST"
    if rng.random() < 0.2:
        headers["Retry-After"] = rng.choice(HOSTILE)
    # Header values travel as bytes (UTF-8 allowed); CR, LF and NUL cannot be sent at all.
    raw_headers = {
        k: "".join(c if c not in "\r\n\x00" else "%" for c in v).strip().encode() for k, v in headers.items()
    }
    request: dict[str, Any] = {"method": method, "url": idp.url(path), "headers": raw_headers}
    body = urlencode(params)
    if method == "GET" or rng.random() < 0.2:
        request["url"] += "?" + body
    else:
        kind = rng.random()
        if kind < 0.6:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request["content"] = body.encode()
        elif kind < 0.7:
            headers["Content-Type"] = "application/json"
            request["content"] = b'{"client_id": "notes"}'
        elif kind < 0.8:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request["content"] = rng.randbytes(rng.randint(0, 300))
        elif kind < 0.9:
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=latin-1"
            request["content"] = "client_id=é&x=\xff".encode("latin-1")
        else:
            request["content"] = body.encode()
    return request


def test_a_few_thousand_hostile_requests_never_get_a_5xx(idp: Idp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    material = Material(idp)
    statuses: dict[int, int] = {}
    failures: list[str] = []
    slow: list[str] = []
    with httpx.Client(timeout=20, follow_redirects=False) as http:
        for number in range(REQUESTS):
            request = hostile_request(rng, idp, material)
            try:
                started = time.perf_counter()
                answer = http.request(**request)
                took = time.perf_counter() - started
                if took > 1.0:
                    slow.append(f"{took:.2f}s {request['method']} {request['url'][:120]} -> {answer.status_code}")
            except httpx.HTTPError as exc:  # a server that drops a request is a failure too
                failures.append(f"#{number} {request['method']} {request['url'][:200]}: {exc!r}")
                continue
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code >= 500:
                failures.append(f"#{number} {request['method']} {request['url'][:200]} -> {answer.status_code}")
    unexpected = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    print(f"seed {seed}: {REQUESTS} requests, statuses {dict(sorted(statuses.items()))}")
    print("\n".join(slow[:20]))
    assert not failures, f"seed {seed}: {failures[:10]}"
    assert not unexpected, f"seed {seed}: {unexpected[:5]}"
    assert sum(statuses.values()) == REQUESTS
