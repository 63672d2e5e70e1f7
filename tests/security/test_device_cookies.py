"""An account strangers cannot lock (OWASP "Slow down online guessing attacks with device cookies"):
during a flood of wrong passwords on alice, alice still signs in from the browser she signed in with
before, while the flood (and any untrusted browser) stays throttled; her own browser is locked only
by its own failures; her sessions page says her account was being guessed at."""

from __future__ import annotations

import httpx

from tests.support.flows import Browser, Rp
from tests.support.idp import PASSWORD, Idp

CB = "http://127.0.0.1:9/cb"


def attempt(browser: Browser, rp: Rp, password: str, username: str = "alice") -> httpx.Response:
    page = browser.authorize(rp, prompt="login", state="s")
    return browser.submit_login(page, username, password)


def test_strangers_guessing_never_lock_the_owners_browser(idp_sqlite: Idp) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.add_user("bob")
    rp = Rp("app", CB, idp.add_client("app", [CB]))
    alices, stranger, new_browser, bobs = Browser(idp), Browser(idp), Browser(idp), Browser(idp)
    try:
        first = attempt(alices, rp, PASSWORD)
        assert first.status_code == 303
        cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("exeunt_device="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
        assert attempt(bobs, rp, PASSWORD, "bob").status_code == 303  # bob's browser trusts bob, not alice
        statuses = [attempt(stranger, rp, f"guess {i}").status_code for i in range(30)]
        assert statuses[:5] == [401] * 5 and statuses[-1] == 429  # the flood is throttled
        assert attempt(new_browser, rp, PASSWORD).status_code == 429  # so is any untrusted browser
        assert attempt(bobs, rp, PASSWORD).status_code == 429  # (a device cookie of another account)
        assert attempt(alices, rp, PASSWORD).status_code == 303  # alice's own browser signs in
        page = alices.http.get(idp.url("/account/sessions")).text
        # ... and her success cleared nothing of the strangers' count: she is told she was guessed at.
        assert 'id="guessed"' in page and "wrong password" in page
        # Her browser is locked by its own failures only, after its own free attempts.
        own = [attempt(alices, rp, "mistyped").status_code for _ in range(7)]
        assert own[:5] == [401] * 5 and own[-1] == 429
        assert attempt(alices, rp, PASSWORD).status_code == 429
    finally:
        for b in (alices, stranger, new_browser, bobs):
            b.close()
