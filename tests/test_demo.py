"""`exeunt demo` as a newcomer meets it: a real process, three sample apps, one sign-out reaching all."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import Page, expect

from tests.support.process import ExeuntProcess
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    ports = {name: free_port() for name in ("port", "idp-port", "notes-port", "billing-port", "board-port")}
    args = ["demo"] + [part for name, port in ports.items() for part in (f"--{name}", str(port))]
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = ExeuntProcess(args, {"TMPDIR": str(temp)}, tmp_path, tmp_path / "demo.log")

    def started() -> bool:
        assert process.proc.poll() is None, process.output()
        return "Ctrl-C stops everything" in process.output()

    wait_until(started, timeout=60, interval=0.1, what="the demo to start")
    output = process.output()
    user, password = re.search(r"user (\S+)\s+password (\S+)", output).groups()  # type: ignore[union-attr]
    urls = {
        "landing": f"http://localhost:{ports['port']}",
        "notes": f"http://localhost:{ports['notes-port']}",
        "billing": f"http://localhost:{ports['billing-port']}",
        "board": f"http://127.0.0.1:{ports['board-port']}/index.html",
        "idp": f"http://127.0.0.1:{ports['idp-port']}",
    }
    # Issue 12.14: nothing secret in clear on disk while it runs (only hashes), and nothing left after.
    [work] = temp.glob("exeunt-demo-*")
    for path in (p for p in work.rglob("*") if p.is_file()):
        assert password.encode() not in path.read_bytes(), path
    yield urls, user, password
    assert process.terminate() == 0, process.output()
    assert not list(temp.iterdir()), "exeunt demo left its temporary folder behind"


def sign_in_server_app(page: Page, url: str, credentials: tuple[str, str] | None) -> None:
    page.goto(url)
    page.click("#sign-in")
    if credentials:
        page.fill("#username", credentials[0])
        page.fill("#password", credentials[1])
        page.click("button[type=submit]")
    expect(page.locator("#status")).to_have_text("Signed in as Demo User")  # the name, not the opaque sub
    expect(page.locator("#log")).to_contain_text("signed in as Demo User")  # this browser's session's log


def test_one_sign_out_reaches_all_three_demo_apps(
    chrome: Chromium, demo: tuple[dict[str, str], str, str], artifacts: Path
) -> None:
    urls, user, password = demo
    context = chrome.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(15000)
    landing = context.new_page()
    landing.goto(urls["landing"])
    expect(landing.locator("h1")).to_contain_text("sign out everywhere")
    landing.screenshot(path=str(artifacts / "demo-landing.png"))

    notes, billing, board = context.new_page(), context.new_page(), context.new_page()
    sign_in_server_app(notes, urls["notes"], (user, password))
    sign_in_server_app(billing, urls["billing"], None)  # single sign-on: no password the second time
    board.goto(urls["board"])
    board.click("#login")
    expect(board.locator("#status")).to_have_text("Signed in as Demo User")
    # Issue 12.12: styled like the others, with a sign-out button instead of "Sign in".
    assert "system-ui" in board.evaluate("getComputedStyle(document.body).fontFamily")
    expect(board.locator("#logout")).to_be_visible()
    expect(board.locator("#login")).to_be_hidden()

    with notes.expect_response(lambda r: "/logout/done/" in r.url) as done:
        notes.click("#sign-out")  # to the provider's question…
        expect(notes.locator("h1")).to_have_text("Sign out of exeunt?")
        expect(notes.locator("ul.apps")).to_contain_text("Billing")
        notes.click("#sign-out")  # …and the answer
    signed_out_at = time.monotonic()
    notes.wait_for_url(re.compile(re.escape(urls["notes"]) + r"/\?state="))

    for page, technique in ((notes, "front-channel"), (billing, "back-channel")):
        expect(page.locator("#status")).to_have_text("Signed out", timeout=10000)
        expect(page.locator("#log")).to_contain_text(technique)
    expect(board.locator("#status")).to_have_text("Signed out", timeout=10000)
    assert time.monotonic() - signed_out_at < 10
    for name, page in (("notes", notes), ("billing", billing), ("board", board)):
        page.screenshot(path=str(artifacts / f"demo-{name}-after-sign-out.png"))

    # The logged-out page again, held there (the redirect blocked) to show each app's progress.
    look = context.new_page()
    look.route(re.compile(r".*/logout/continue/.*"), lambda route: route.fulfill(status=204))  # stays put
    # "commit", not "domcontentloaded": the page may start its own (blocked) redirect before that event.
    look.goto(done.value.url, wait_until="commit")
    expect(look.locator("li", has_text="Notes").locator("[data-status]")).to_have_text("signed out")
    expect(look.locator("li", has_text="Billing").locator("[data-status]")).to_have_text("signed out")
    look.screenshot(path=str(artifacts / "demo-logged-out.png"))

    # Board signs out by itself too (RP-initiated, oidc-client-ts signoutRedirect) and comes back.
    board.click("#login")
    board.fill("#username", user)
    board.fill("#password", password)
    board.click("button[type=submit]")
    expect(board.locator("#status")).to_have_text("Signed in as Demo User")
    board.click("#logout")
    expect(board.locator("h1")).to_have_text("Sign out of exeunt?")
    board.click("#sign-out")
    board.wait_for_url(re.compile(re.escape(urls["board"])))
    expect(board.locator("#status")).to_have_text("Signed out")
    context.close()
