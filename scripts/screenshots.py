"""Regenerate the README's screenshots from the real demo, in headless Chromium.

    make screenshots          # or: .venv/bin/python scripts/screenshots.py [--out docs/img]

It starts `exeunt demo` on its default ports (landing 8000, provider 8010, Notes 8001, Billing 8002,
Board 8003), walks the demo as a newcomer would (sign in to all three apps, sign out from Notes,
watch each app notice, sign out of Board by itself) and saves each view as a PNG.  The same walk,
`tour`, is what tests/browser/test_demo.py runs, so the script cannot drift from the demo.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: the repository's tests/support is importable
from tests.support.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402  (Chromium as tests start it)

DEFAULT_PORTS = {"port": 8000, "idp-port": 8010, "notes-port": 8001, "billing-port": 8002, "board-port": 8003}


def urls_for(ports: dict[str, int]) -> dict[str, str]:
    return {
        "landing": f"http://localhost:{ports['port']}",
        "notes": f"http://localhost:{ports['notes-port']}",
        "billing": f"http://localhost:{ports['billing-port']}",
        "board": f"http://127.0.0.1:{ports['board-port']}/index.html",
        "idp": f"http://127.0.0.1:{ports['idp-port']}",
    }


def _sign_in_server_app(page: Page, url: str, credentials: tuple[str, str] | None) -> None:
    page.goto(url)
    page.click("#sign-in")
    if credentials:
        page.fill("#username", credentials[0])
        page.fill("#password", credentials[1])
        page.click("button[type=submit]")
    expect(page.locator("#status")).to_have_text("Signed in as Demo User")  # the name, not the opaque sub
    expect(page.locator("#log")).to_contain_text("signed in as Demo User")  # this browser's session's log


def tour(chrome: Browser, urls: dict[str, str], user: str, password: str, shots: Path) -> None:
    """The demo as the README describes it, checked at each step, one PNG per view into ``shots``."""
    context = chrome.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(15000)
    landing = context.new_page()
    landing.goto(urls["landing"])
    expect(landing.locator("h1")).to_contain_text("sign out everywhere")
    landing.screenshot(path=str(shots / "demo-landing.png"))

    notes, billing, board = context.new_page(), context.new_page(), context.new_page()
    _sign_in_server_app(notes, urls["notes"], (user, password))
    _sign_in_server_app(billing, urls["billing"], None)  # single sign-on: no password the second time
    board.goto(urls["board"])
    board.click("#login")
    expect(board.locator("#status")).to_have_text("Signed in as Demo User")
    # Styled like the others, with a sign-out button instead of "Sign in".
    assert "system-ui" in board.evaluate("getComputedStyle(document.body).fontFamily")
    expect(board.locator("#logout")).to_be_visible()
    expect(board.locator("#login")).to_be_hidden()

    account = context.new_page()
    account.goto(urls["idp"] + "/account/sessions")
    expect(account.locator("li.session")).to_have_count(1)
    account.screenshot(path=str(shots / "account-sessions.png"), full_page=True)
    account.close()

    notes.click("#sign-out")  # to the provider's question…
    expect(notes.locator("h1")).to_have_text("Sign out of exeunt?")
    expect(notes.locator("ul.apps")).to_contain_text("Billing")
    notes.screenshot(path=str(shots / "logout-confirmation.png"))
    notes.click("#sign-out")  # …and the answer
    signed_out_at = time.monotonic()
    # The logged-out page as the person sees it: it stays at least three seconds, long enough to read.
    expect(notes.locator("h1")).to_have_text("You are signed out")
    expect(notes.locator("li", has_text="Notes").locator("[data-status]")).to_have_text("signed out (it confirmed)")
    expect(notes.locator("li", has_text="Billing").locator("[data-status]")).to_have_text("signed out")
    expect(notes.locator("#continue")).to_have_text("Continue to Notes")
    notes.screenshot(path=str(shots / "demo-logged-out.png"))
    notes.wait_for_url(re.compile(re.escape(urls["notes"]) + r"/\?state="))

    for page, technique in ((notes, "front-channel"), (billing, "back-channel")):
        expect(page.locator("#status")).to_have_text("Signed out", timeout=10000)
        expect(page.locator("#log")).to_contain_text(technique)
    expect(board.locator("#status")).to_have_text("Signed out", timeout=10000)
    assert time.monotonic() - signed_out_at < 10
    for name, page in (("notes", notes), ("billing", billing), ("board", board)):
        page.screenshot(path=str(shots / f"demo-{name}-after-sign-out.png"))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder for the PNGs (docs/img)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    exeunt = shutil.which("exeunt", path=str(ROOT / ".venv" / "bin")) or "exeunt"
    command = [exeunt, "demo"] + [part for name, port in DEFAULT_PORTS.items() for part in (f"--{name}", str(port))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")}
    demo = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        deadline = time.monotonic() + 60
        assert demo.stdout is not None
        while "Ctrl-C stops everything" not in output:
            line = demo.stdout.readline()
            if not line or time.monotonic() > deadline:
                print(f"the demo did not start:\n{output}", file=sys.stderr)
                return 1
            output += line
        found = re.search(r"user (\S+)\s+password (\S+)", output)
        assert found, output
        with sync_playwright() as p:
            chrome = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            try:
                tour(chrome, urls_for(DEFAULT_PORTS), found.group(1), found.group(2), args.out)
            finally:
                chrome.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=15)
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
