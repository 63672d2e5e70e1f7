"""Every page a person (or an operator) meets, checked with axe-core (Deque's rules engine, from npm,
served from this machine): no violation of WCAG 2.0, 2.1 and 2.2 A and AA, in English and in Arabic
(right to left).  The walk: signed out, signing in (and a wrong password), signed in, where you are
signed in, the password page, both sign-out questions (asked by an application, and a problem
request), the logged-out page while it tells the applications, nobody signed in, an error page,
and the operator console's pages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import BrowserContext, Page, expect

from exeunt.operations import accounts
from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp, register

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
STANDARDS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(v => ({rule: v.id, impact: v.impact,
                                       where: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_CONSOLE": "on"}


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        message = "axe-core is not installed: `make test` installs it (tests/browser/axe)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text()


@pytest.fixture
def context(chrome: Chromium) -> Iterator[BrowserContext]:
    ctx = chrome.new_context(locale="en-US")
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


def check(page: Page, axe_source: str, checked: list[str]) -> None:
    page.evaluate(axe_source)  # through the DevTools protocol: the page's CSP is not loosened
    found = page.evaluate(RUN, STANDARDS)
    checked.append(page.url)
    assert found == [], f"{page.url}: {found}"


def test_every_page_has_no_accessibility_violation(
    idp_sqlite: Idp, context: BrowserContext, receivers: list[RecordingRp], axe_source: str
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    notes = RecordingRp("notes")
    receivers.append(notes)
    register(idp, notes, **notes.metadata(backchannel=True))
    page = context.new_page()
    checked: list[str] = []

    page.goto(idp.url("/"))
    check(page, axe_source, checked)  # signed out
    page.goto(notes.base + "/login")
    check(page, axe_source, checked)  # the sign-in page
    page.fill("#username", "alice")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator("#login-message")).to_be_visible()
    check(page, axe_source, checked)  # a wrong password
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#status")).to_contain_text("signed in as")
    for path in ("/", "/account/sessions", "/account/password"):
        page.goto(idp.url(path))
        check(page, axe_source, checked)
    page.goto(idp.url("/logout?" + urlencode({"client_id": "notes", "post_logout_redirect_uri": "https://x.example/"})))
    expect(page.locator("h1")).to_have_text("This sign-out request has a problem")
    check(page, axe_source, checked)  # a problem request
    [signed_in] = notes.events("signed_in")
    query = {"id_token_hint": signed_in.data["id_token"], "post_logout_redirect_uri": notes.base + "/bye"}
    page.goto(idp.url("/logout?" + urlencode(query)))
    check(page, axe_source, checked)  # asked by an application
    page.route(notes.base + "/bye**", lambda route: route.fulfill(body="bye"))
    page.click("#sign-out")
    expect(page.locator("h1")).to_have_text("You are signed out")
    check(page, axe_source, checked)  # the logged-out page, telling the applications
    page.goto(idp.url("/logout"))
    check(page, axe_source, checked)  # nobody signed in
    page.goto(idp.url("/nowhere"))
    check(page, axe_source, checked)  # an error page
    page.goto(idp.url("/login?ui_locales=ar"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    check(page, axe_source, checked)  # right to left

    page.goto(idp.url("/console/"))  # the operator's pages
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Where sign-outs went")
    check(page, axe_source, checked)
    page.click("table.plain a >> nth=0")
    expect(page.locator("h1")).to_have_text("Where this sign-out went")
    check(page, axe_source, checked)
    page.goto(idp.url("/console/people/alice"))
    check(page, axe_source, checked)
    assert len(checked) == 15
    # The check itself works: an image without a text alternative is caught.
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img'))")
    assert "image-alt" in [v["rule"] for v in page.evaluate(RUN, STANDARDS)]
