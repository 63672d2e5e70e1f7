"""Who may open the operator console, and what its one form refuses: off unless EXEUNT_CONSOLE; a
stranger is sent to sign in (and comes back to the console, never to a URL a link names); a signed-in
person without the operator role gets 403; the role taken back or the session ended closes it at the
next click; the admin token opens only the JSON API; requeue refuses cross-site posts, stale or
foreign CSRF tokens, and notifications of another sign-out or not given up."""

from __future__ import annotations

import re

import httpx
import pytest

from exeunt.operations import accounts
from tests.support.flows import Browser, Rp, exchange, hidden_fields, sign_out
from tests.support.idp import Idp
from tests.support.rp import RecordingRp, register

ADMIN_TOKEN = "a" * 40


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_CONSOLE": "on", "EXEUNT_ADMIN_TOKEN": ADMIN_TOKEN}


def signed_in(idp: Idp, username: str, then: str | None = None) -> tuple[Browser, httpx.Response]:
    browser = Browser(idp)
    page = browser.http.get(idp.url("/login"), params={"then": then} if then else None)
    return browser, browser.submit_login(page, username)


def test_the_console_opens_only_to_signed_in_operators(idp_sqlite: Idp) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.add_user("bob")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    stranger = httpx.get(idp.url("/console/"))
    assert stranger.status_code == 303 and stranger.headers["location"] == "/login?then=console"
    alice, answer = signed_in(idp, "alice", then="console")
    bob, _ = signed_in(idp, "bob", then="console")
    try:
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"  # back where she was going
        page = alice.http.get(idp.url("/console/"))
        assert page.status_code == 200 and "Where sign-outs went" in page.text
        assert page.headers["cache-control"].startswith("no-store")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        refused = bob.http.get(idp.url("/console/"))
        assert refused.status_code == 403 and "grant-operator" in refused.text
        assert bob.http.get(idp.url("/console/people/alice")).status_code == 403
        # The admin token is for the JSON API, not for these pages.
        token = httpx.get(idp.url("/console/"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert token.status_code == 303
        # The role taken back: refused at the next click.
        idp.call(accounts.set_operator(idp.provider.db, "alice", False))
        assert alice.http.get(idp.url("/console/")).status_code == 403
        idp.call(accounts.set_operator(idp.provider.db, "alice", True))
        assert alice.http.get(idp.url("/console/")).status_code == 200
        sign_out(alice)  # her session ended: back to the sign-in page
        assert alice.http.get(idp.url("/console/")).headers["location"] == "/login?then=console"
    finally:
        alice.close()
        bob.close()


def test_sign_in_goes_only_to_the_providers_own_pages(idp_sqlite: Idp) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    for then in ("https://evil.example/", "//evil.example", "/console/../logout", "console\r\nX: y"):
        browser, answer = signed_in(idp, "alice", then=then)
        try:
            assert answer.status_code == 303 and answer.headers["location"] == "/", then
        finally:
            browser.close()
    browser, answer = signed_in(idp, "alice", then="sessions")
    try:
        assert answer.headers["location"] == "/account/sessions"
    finally:
        browser.close()
    assert httpx.get(idp.url("/account/sessions")).headers["location"] == "/login?then=sessions"


def test_the_console_is_off_unless_configured(sqlite_url: str) -> None:
    idp = Idp(sqlite_url).start()
    idp.add_user("alice")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    browser, _ = signed_in(idp, "alice")
    try:
        for path in ("/console/", "/console/people?q=a", "/console/signouts/x"):
            assert browser.http.get(idp.url(path)).status_code == 404, path
    finally:
        browser.close()
        idp.stop()


def test_requeue_refuses_what_it_must(idp_sqlite: Idp, receivers: list[RecordingRp]) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    idp.add_user("bob")
    idp.call(accounts.set_operator(idp.provider.db, "alice", True))
    rp = RecordingRp("billing")
    receivers.append(rp)
    register(idp, rp, **rp.metadata(backchannel=True))
    rp.state.mode = "400"
    bob = Browser(idp)
    client = Rp("billing", rp.redirect_uri, rp.secret)
    assert exchange(idp, client, bob.sign_in(client, username="bob")).status_code == 200
    sign_out(bob)
    bob.close()
    rp.wait_for("backchannel")
    idp.settle()
    alice, _ = signed_in(idp, "alice")
    try:
        listing = alice.http.get(idp.url("/console/")).text
        signout_id = re.search(r'href="/console/signouts/([^"]+)"', listing).group(1)  # type: ignore[union-attr]
        page = alice.http.get(idp.url(f"/console/signouts/{signout_id}"))
        fields = hidden_fields(page.text)
        url = idp.url(f"/console/signouts/{signout_id}/requeue")
        origin = {"Origin": idp.issuer}
        cross = alice.http.post(url, data=fields, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        stale = alice.http.post(url, data={**fields, "csrf": "x" * 43}, headers=origin)
        assert stale.status_code == 400
        wrong = alice.http.post(url, data={"csrf": fields["csrf"], "delivery": "999999"}, headers=origin)
        assert wrong.status_code == 409
        rp.state.mode = "200"
        done = alice.http.post(url, data=fields, headers=origin)
        assert done.status_code == 303 and done.headers["location"].endswith("?done=requeued")
        again = alice.http.post(url, data=fields, headers=origin)  # no longer given up
        assert again.status_code == 409
        rp.wait_for("backchannel", count=2)
        unknown = alice.http.post(idp.url("/console/signouts/nope/requeue"), data=fields, headers=origin)
        assert unknown.status_code == 404
    finally:
        alice.close()
