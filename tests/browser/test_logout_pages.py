"""Sign-out in a real browser: headless Chromium (Debian's package) through Playwright.

RPs are real servers on loopback. The server-side RPs live on ``localhost`` and the provider on
``127.0.0.1``, which makes them two different sites, so these tests also prove the SameSite
behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import BrowserContext, Page, expect

from exeunt.web.cookies import SESSION_COOKIE
from tests.support.flows import query_of
from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp, register
from tests.support.servers import ServerThread, bound_socket
from tests.support.spa import SpaServer

pytestmark = pytest.mark.browser


@pytest.fixture
def context(chrome: Chromium) -> Iterator[BrowserContext]:
    ctx = chrome.new_context()
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


@pytest.fixture
def rps(idp_sqlite: Idp) -> Iterator[tuple[RecordingRp, RecordingRp]]:
    idp_sqlite.add_user("alice")
    notes, billing = RecordingRp("notes", host="localhost"), RecordingRp("billing", host="localhost")
    register(idp_sqlite, notes, **notes.metadata(frontchannel=True))
    register(idp_sqlite, billing, **billing.metadata(frontchannel=True, query="?app=billing"))
    yield notes, billing
    notes.stop()
    billing.stop()


def sign_in_at(page: Page, rp: RecordingRp, *, password_needed: bool) -> None:
    page.goto(rp.base + "/login")
    if password_needed:
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
    expect(page.locator("#status")).to_contain_text("signed in as")


def test_confirmed_sign_out_reaches_every_front_channel_client_before_the_post_logout_redirect(
    idp_sqlite: Idp, context: BrowserContext, rps: tuple[RecordingRp, RecordingRp], artifacts: Path
) -> None:
    notes, billing = rps
    page = context.new_page()
    sign_in_at(page, notes, password_needed=True)
    sign_in_at(page, billing, password_needed=False)
    sid = notes.events("signed_in")[0].data["sid"]
    assert billing.events("signed_in")[0].data["sid"] == sid

    page.goto(notes.base + "/")
    page.click("#logout-get")
    expect(page.locator("h1")).to_have_text("Sign out of exeunt?")
    expect(page.locator("ul.apps")).to_contain_text("Notes")
    expect(page.locator("ul.apps")).to_contain_text("Billing")
    page.screenshot(path=str(artifacts / "logout-confirmation.png"))
    assert not notes.events("frontchannel")  # asking signs nobody out

    page.click("#sign-out")
    page.wait_for_url(notes.base + "/bye?state=get-state")
    arrived = notes.events("post_logout")[0]
    assert arrived.data["query"] == {"state": "get-state"}
    for rp, expected in (
        (notes, {"iss": idp_sqlite.issuer, "sid": sid}),
        (billing, {"app": "billing", "iss": idp_sqlite.issuer, "sid": sid}),
    ):
        [hit] = rp.events("frontchannel")
        assert hit.data["query"] == expected
        assert hit.at <= arrived.at  # front-channel first, then the redirect

    # prompt=none in that browser now answers login_required with the state.
    page.goto(
        f"{idp_sqlite.issuer}/authorize?client_id=notes&redirect_uri={notes.redirect_uri}"
        "&response_type=code&scope=openid&prompt=none&state=after"
    )
    assert query_of(page.url)["error"] == "login_required" and query_of(page.url)["state"] == "after"


def test_logged_out_page_shows_each_client_confirmed(
    idp_sqlite: Idp, context: BrowserContext, rps: tuple[RecordingRp, RecordingRp], artifacts: Path
) -> None:
    """The words say only what exeunt knows: an application whose front-channel page confirms is
    "signed out (it confirmed)"; one whose iframe merely loaded was "asked"."""
    notes, billing = rps
    notes.state.confirm_frontchannel = True
    page = context.new_page()
    sign_in_at(page, notes, password_needed=True)
    sign_in_at(page, billing, password_needed=False)
    page.goto(idp_sqlite.url("/logout"))  # signing out at the provider: no redirect afterwards
    page.click("#sign-out")
    expect(page.locator("h1")).to_have_text("You are signed out")
    expect(page.locator("h1")).to_be_focused()
    expect(page.locator("#progress")).to_have_attribute("aria-live", "polite")
    notes_line = page.locator("li", has_text="Notes").locator("[data-status]")
    expect(notes_line).to_have_text("signed out (it confirmed)")
    expect(page.locator("li", has_text="Billing").locator("[data-status]")).to_have_text("asked to sign you out")
    page.screenshot(path=str(artifacts / "logged-out.png"))
    assert len(notes.events("frontchannel")) == len(billing.events("frontchannel")) == 1


def test_a_cross_site_form_post_to_the_end_session_endpoint_ends_the_real_session(
    idp_sqlite: Idp, context: BrowserContext, rps: tuple[RecordingRp, RecordingRp]
) -> None:
    notes, _ = rps
    page = context.new_page()
    sign_in_at(page, notes, password_needed=True)
    old_cookie = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)

    page.click("#logout-post button")  # a form on localhost POSTs to 127.0.0.1: our Lax cookie stays behind
    expect(page.locator("h1")).to_have_text("Sign out of exeunt?")  # …but the GET continuation brings it
    page.click("#sign-out")
    page.wait_for_url(notes.base + "/bye?state=post-state")
    assert notes.events("frontchannel")[0].data["query"]["sid"] == notes.events("signed_in")[0].data["sid"]

    replay = httpx.get(
        idp_sqlite.url("/authorize"),
        cookies={SESSION_COOKIE: old_cookie},
        params={
            "client_id": "notes",
            "redirect_uri": notes.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "prompt": "none",
            "state": "replay",
        },
    )
    assert query_of(replay.headers["location"])["error"] == "login_required"


def test_a_cross_site_post_to_the_confirmation_signs_nobody_out(
    idp_sqlite: Idp, context: BrowserContext, rps: tuple[RecordingRp, RecordingRp]
) -> None:
    notes, _ = rps
    page = context.new_page()
    sign_in_at(page, notes, password_needed=True)
    # The attacker can even obtain a genuine confirmation form of their own; the CSRF token and the
    # Origin check still stop the forged POST.
    sock = bound_socket()
    evil_base = f"http://localhost:{sock.getsockname()[1]}"

    async def evil(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = (
            f"<form id='f' method='post' action='{idp_sqlite.issuer}/logout/confirm'>"
            "<input name='csrf' value='guess'><input name='pending' value='x'></form>"
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": body})

    with ServerThread(evil, sock):
        page.goto(evil_base + "/")
        page.wait_for_url(idp_sqlite.issuer + "/logout/confirm")
        expect(page.locator("h1")).to_have_text("Sign-out refused")
    page.goto(notes.base + "/login")  # still signed in: straight back without a password
    expect(page.locator("#status")).to_contain_text("signed in as")
    assert not notes.events("frontchannel")


def test_oidc_client_ts_session_monitor_notices_a_sign_out_in_another_tab(
    idp_sqlite: Idp, context: BrowserContext, artifacts: Path
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    spa = SpaServer("board")
    idp.add_client("board", spa.redirect_uris, public=True, name="Board")
    spa.start(idp.issuer)
    try:
        app = context.new_page()
        app.goto(spa.base + "/index.html")
        expect(app.locator("#status")).to_have_text("Not signed in yet")  # not "Signed out": nobody was
        app.click("#login")
        app.fill("#username", "alice")
        app.fill("#password", PASSWORD)
        app.click("button[type=submit]")
        expect(app.locator("#status")).to_contain_text("Signed in as")

        # Before sign-out the monitor keeps answering "unchanged": no spurious sign-out for 4 s
        # (four polls of the check_session iframe).
        with pytest.raises(AssertionError):
            expect(app.locator("#status")).not_to_contain_text("Signed in", timeout=4000)

        other = context.new_page()
        other.goto(idp.url("/logout"))
        other.click("#sign-out")
        expect(other.locator("h1")).to_have_text("You are signed out")
        expect(app.locator("#status")).to_have_text("Signed out", timeout=10000)
        expect(app.locator("#log")).to_contain_text("userSignedOut")
        app.screenshot(path=str(artifacts / "spa-signed-out.png"))
    finally:
        spa.stop()


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_BACKCHANNEL_TIMEOUT": "30"}])
def test_the_redirect_waits_for_the_initiating_clients_back_channel_delivery_only(
    idp_sqlite: Idp, context: BrowserContext, artifacts: Path
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    billing, hanging = RecordingRp("billing", host="localhost"), RecordingRp("hanging", host="localhost")
    hanging.state.mode = "hang"
    register(idp, billing, **billing.metadata(backchannel=True))
    register(idp, hanging, **hanging.metadata(backchannel=True))
    try:
        page = context.new_page()
        sign_in_at(page, hanging, password_needed=True)
        sign_in_at(page, billing, password_needed=False)
        page.goto(billing.base + "/")
        page.click("#logout-get")
        started = billing.events("signed_in")[0].at
        page.click("#sign-out")
        page.wait_for_url(billing.base + "/bye?state=get-state", timeout=4000)  # well under EXEUNT_LOGOUT_WAIT
        [token] = billing.events("backchannel")
        [arrived] = billing.events("post_logout")
        assert started < token.at <= arrived.at  # the client knew before the user landed on it
        assert hanging.events("backchannel")  # the hanging client was called, and cost the user nothing
    finally:
        billing.stop()
        hanging.stop()
