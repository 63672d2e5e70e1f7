"""In Chromium: the sessions page shows two browsers' sessions, and "Sign out all other devices" in
one ends the other, whose oidc-client-ts session monitor then sees "changed" (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import expect

from tests.support.idp import PASSWORD, Idp
from tests.support.spa import SpaServer

pytestmark = pytest.mark.browser


def test_signing_out_other_devices_reaches_the_other_browsers_session_monitor(
    idp_sqlite: Idp, chrome: Chromium, artifacts: Path
) -> None:
    idp = idp_sqlite
    idp.add_user("alice", name="Alice Liddell")
    spa = SpaServer("board")
    idp.add_client("board", spa.redirect_uris, public=True, name="Board")
    spa.start(idp.issuer)
    laptop = chrome.new_context(user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36")
    phone = chrome.new_context(
        user_agent="Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/156.0 Mobile Safari/537.36"
    )
    try:
        for context in (laptop, phone):
            context.set_default_timeout(15000)
        app = laptop.new_page()
        app.goto(spa.base + "/index.html")
        app.click("#login")
        app.fill("#username", "alice")
        app.fill("#password", PASSWORD)
        app.click("button[type=submit]")
        expect(app.locator("#status")).to_contain_text("Signed in as")

        own = phone.new_page()
        own.goto(idp.url("/login"))
        own.fill("#username", "alice")
        own.fill("#password", PASSWORD)
        own.click("button[type=submit]")
        expect(own.locator("h1")).to_contain_text("Signed in as Alice Liddell")
        own.click("#sessions-link")
        rows = own.locator("li.session")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Chrome on Android")
        expect(rows.nth(0)).to_contain_text("this browser")
        expect(rows.nth(1)).to_contain_text("Chrome on Linux")
        expect(rows.nth(1)).to_contain_text("Board")
        own.screenshot(path=str(artifacts / "account-sessions.png"), full_page=True)

        own.click("#end-others")
        expect(own.locator("[role=status]")).to_contain_text("Every other device is signed out")
        expect(own.locator("li.session")).to_have_count(1)
        # The laptop's browser state is unchanged; its monitor learns from the provider that the
        # session ended, and oidc-client-ts reports the sign-out.
        expect(app.locator("#status")).to_have_text("Signed out", timeout=10000)
        expect(app.locator("#log")).to_contain_text("userSignedOut")
    finally:
        laptop.close()
        phone.close()
        spa.stop()
