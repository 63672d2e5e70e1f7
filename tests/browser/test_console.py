"""The operator console in Chromium: "I signed out but Billing still shows me signed in" answered in
two clicks (find the person, open the sign-out), the failing application first with its charts, and
a given-up notification requeued from the page and delivered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import BrowserContext, Page, expect

from exeunt.operations import accounts
from tests.support.flows import Browser, Rp, exchange, sign_out
from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp, register
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser
# Elements reaching past the page's right edge (tables scroll inside their own box, so they are skipped).
OUTSIDE_THE_PAGE = (
    "[...document.querySelectorAll('body *')].filter(e => !e.closest('.table-scroll') && "
    "e.getBoundingClientRect().right > document.documentElement.clientWidth)"
    ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
)


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_CONSOLE": "on"}


@pytest.fixture
def context(chrome: Chromium) -> Iterator[BrowserContext]:
    ctx = chrome.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


def bob_signs_out_of_notes_and_billing(idp: Idp, receivers: list[RecordingRp]) -> RecordingRp:
    """bob uses Notes and Billing; Billing's back-channel endpoint refuses (HTTP 400: given up at once)."""
    idp.add_user("bob", name="Bob Example")
    rps = [RecordingRp("notes"), RecordingRp("billing")]
    receivers.extend(rps)
    for rp in rps:
        register(idp, rp, **rp.metadata(backchannel=True))
    notes, billing = rps
    billing.state.mode = "400"
    browser = Browser(idp)
    try:
        for rp in rps:
            client = Rp(rp.client_id, rp.redirect_uri, rp.secret)
            assert exchange(idp, client, browser.sign_in(client, username="bob")).status_code == 200
        sign_out(browser)
    finally:
        browser.close()
    notes.wait_for("backchannel")
    billing.wait_for("backchannel")
    idp.settle()
    return billing


def sign_in_to_console(page: Page, idp: Idp, username: str) -> None:
    page.goto(idp.url("/console/"))
    expect(page.locator("h1")).to_have_text("Sign in")  # the console sends a stranger to sign in first
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_where_a_sign_out_went_in_two_clicks_and_a_requeue(
    idp_sqlite: Idp, context: BrowserContext, receivers: list[RecordingRp], artifacts: Path
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    billing = bob_signs_out_of_notes_and_billing(idp, receivers)

    page = context.new_page()
    sign_in_to_console(page, idp, "alice")
    expect(page.locator("h1")).to_have_text("Where sign-outs went")
    rows = page.locator("table.health tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-client", "billing")  # failing now: first
    expect(rows.nth(0).locator(".badge.bad")).to_have_text("failing now")
    expect(rows.nth(0)).to_contain_text("HTTP 400")
    expect(rows.nth(0).locator("svg rect.failed")).to_have_count(1)
    expect(rows.nth(1).locator("svg rect.delivered")).to_have_count(1)
    expect(rows.nth(1).locator("svg polyline.latency")).to_have_count(1)
    expect(rows.nth(1)).to_contain_text("100 %")
    page.screenshot(path=str(artifacts / "console-overview.png"), full_page=True)

    # Two clicks: find bob (one match opens his page), then his sign-out.
    page.fill("#find-person", "bob")
    page.press("#find-person", "Enter")  # click 1
    expect(page.locator("h1")).to_have_text("bob")
    page.click("text=where it went")  # click 2
    expect(page.locator("h1")).to_have_text("Where this sign-out went")
    expect(page.locator("main")).to_contain_text("reason user")
    billing_row = page.locator("tr[data-client=billing]")
    expect(billing_row.locator(".state")).to_have_text("given up")
    expect(billing_row).to_contain_text("HTTP 400")
    notes_row = page.locator("tr[data-client=notes]")
    expect(notes_row.locator(".state")).to_have_text("delivered")
    expect(notes_row.locator("td").nth(5)).to_contain_text("ms")  # how long it took
    page.screenshot(path=str(artifacts / "console-signout.png"), full_page=True)

    # Billing is fixed; the operator requeues its notification from the page.
    billing.state.mode = "200"
    billing_row.get_by_role("button", name="Requeue").click()
    expect(page.locator(".notice")).to_have_text("Queued again: the worker tries it now.")

    def delivered() -> bool:
        page.reload()
        return page.locator("tr[data-client=billing] .state").inner_text() == "delivered"

    wait_until(delivered, timeout=15, interval=0.2, what="the requeued notification to be delivered")
    assert len(billing.wait_for("backchannel", count=2)) == 2
    expect(page.locator("tr[data-client=billing] button")).to_have_count(0)  # nothing left to requeue


def test_the_console_at_320_px_scrolls_no_page_sideways(
    idp_sqlite: Idp, chrome: Chromium, receivers: list[RecordingRp]
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    bob_signs_out_of_notes_and_billing(idp, receivers)
    ctx = chrome.new_context(viewport={"width": 320, "height": 640})
    try:
        page = ctx.new_page()
        sign_in_to_console(page, idp, "alice")
        for step in range(2):
            if step:
                page.click("table.plain a >> nth=0")  # the newest sign-out
            expect(page.locator("h1")).not_to_have_text("Sign in")
            wide = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
            culprits = page.evaluate(OUTSIDE_THE_PAGE)
            assert not wide, f"{page.url} scrolls sideways at 320 px: {culprits}"
    finally:
        ctx.close()
