"""The README's five-minute walkthrough in a real browser, as a newcomer does it: the commands as
written, the authorization URL opened in Chromium, the sign-in form filled in, the code exchanged
with the README's curl, the sign-out URL opened, "Sign out everywhere" pressed.  What a person sees
is read from the page, and the logged-out page must stay readable (the README promises three
seconds) before the browser goes on to the application."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import Route, expect

from tests.support.cli import exeunt
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port

pytestmark = pytest.mark.browser
APP = "http://localhost:3000"


def test_the_walkthrough_in_chromium(tmp_path: Path, chrome: Chromium) -> None:
    assert exeunt("users", "add", "alice", "--email", "alice@example.org", "--password-stdin",
                  cwd=tmp_path, stdin="walkthrough-pw\n").returncode == 0  # fmt: skip
    added = exeunt("clients", "add", "my-app", "--name", "My App", "--redirect-uri", APP + "/callback",
                   "--post-logout-redirect-uri", APP + "/", cwd=tmp_path)  # fmt: skip
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    server = ExeuntProcess(["serve", "--port", str(port)], {}, tmp_path, tmp_path / "serve.log").wait_healthy(issuer)
    ctx = chrome.new_context(locale="en-US")
    ctx.set_default_timeout(15000)
    reached: list[str] = []

    def nothing_listens(route: Route) -> None:  # the README's "nothing listens there"
        reached.append(route.request.url)
        route.fulfill(status=502, body="nothing listens here")

    try:
        page = ctx.new_page()
        page.route(APP + "/**", nothing_listens)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        page.goto(f"{issuer}/authorize?client_id=my-app&response_type=code&scope=openid%20profile"
                  f"&redirect_uri={APP}/callback&state=xyz&nonce=abc&code_challenge={challenge}"
                  "&code_challenge_method=S256")  # fmt: skip
        expect(page.locator("h1")).to_have_text("Sign in")
        expect(page.locator("main")).to_contain_text("to continue to My App")
        page.fill("#username", "alice")
        page.fill("#password", "walkthrough-pw")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(APP + "/callback?**")
        query = parse_qs(urlsplit(reached[-1]).query)
        assert query["state"] == ["xyz"] and query["iss"] == [issuer] and "session_state" in query
        tokens = httpx.post(f"{issuer}/token", auth=("my-app", secret), data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": APP + "/callback", "code_verifier": verifier}).json()  # fmt: skip

        logout = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": APP + "/", "state": "bye"}
        page.goto(f"{issuer}/logout?{urlencode(logout)}")
        expect(page.locator("h1")).to_have_text("Sign out of exeunt?")
        expect(page.locator("ul.apps")).to_contain_text("My App")
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.locator("h1")).to_have_text("You are signed out")
        shown = time.monotonic()
        expect(page.locator("#quiet")).to_contain_text("My App will notice that you signed out the next time it checks")
        expect(page.locator("#continue")).to_have_text("Continue to My App")
        # On to the application (nothing listens there either: the browser says it cannot connect).
        page.wait_for_event("request", lambda request: request.url == APP + "/?state=bye", timeout=15000)
        stayed = time.monotonic() - shown
        assert stayed >= 2.5, f"the logged-out page went by in {stayed:.2f} s: too fast to read"
    finally:
        ctx.close()
        server.terminate()
