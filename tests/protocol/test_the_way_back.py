"""RP-Initiated Logout §3: the way back to the application waits for its logout token, and no longer
than EXEUNT_LOGOUT_WAIT; an empty POST to the end-session endpoint is a request without parameters."""

from __future__ import annotations

import httpx

from tests.support.flows import Browser, Rp, continue_from, sign_out
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import receiver, sign_in_to

CB = "http://localhost:9/cb"


def test_the_way_back_to_the_application_waits_for_its_logout_token_even_without_script(
    idp_sqlite: Idp, receivers: list[RecordingRp]
) -> None:
    """Items 3 and 5: "Continue to Notes" goes through the provider, which answers 303 (with state)
    only once Notes has its logout token; the page says what it waits for and names the app."""
    idp = idp_sqlite
    idp.add_user("alice")
    notes = receiver(idp, receivers, "notes", mode="slow")  # its back-channel answers after 0.3 s
    idp.add_client("quiet", [CB], secret="q" * 40)  # no logout URI at all
    browser = Browser(idp)
    sign_in_to(idp, browser, [notes])
    browser.sign_in(Rp("quiet", CB, "q" * 40))
    _, answer = sign_out(browser, client_id="notes", post_logout_redirect_uri=notes.base + "/bye", state="s1")
    done = browser.http.get(idp.url(answer.headers["location"]))
    assert ">Continue to Notes</a>" in done.text
    assert "You go back to Notes once" in done.text and "at most 5 seconds" in done.text
    assert "Quiet will notice that you signed out" in done.text
    assert "front-" not in done.text and "back-channel" not in done.text  # no jargon for people
    # A browser without script (or any HTTP client) follows the link at once: it must not arrive first.
    continued = continue_from(browser, done)
    assert continued == notes.base + "/bye?state=s1"
    arrived = httpx.get(continued)
    assert arrived.status_code == 200
    [token] = notes.events("backchannel")
    [back] = notes.events("post_logout")
    assert back.at - token.at >= 0.25, "the user reached Notes before Notes had answered its logout token"
    browser.close()


def test_the_way_back_waits_no_longer_than_the_logout_wait(idp_sqlite: Idp, receivers: list[RecordingRp]) -> None:
    """Item 3: bounded by EXEUNT_LOGOUT_WAIT counted from the sign-out, whatever the client does."""
    idp = idp_sqlite
    idp.add_user("alice")
    notes = receiver(idp, receivers, "notes", mode="hang")
    browser = Browser(idp)
    sign_in_to(idp, browser, [notes])
    _, answer = sign_out(browser, client_id="notes", post_logout_redirect_uri=notes.base + "/bye")
    done = browser.http.get(idp.url(answer.headers["location"]))
    notes.wait_for("backchannel")
    idp.travel(idp.config.logout_wait)  # the wait is over: no further waiting at the provider
    assert continue_from(browser, done) == notes.base + "/bye"
    bogus = browser.http.get(idp.url("/logout/continue/" + "A" * 43))
    assert bogus.status_code == 200 and "Nobody is signed in" in bogus.text  # never a redirect to anywhere
    browser.close()


def test_an_empty_post_to_the_end_session_endpoint_is_no_parameters(idp_sqlite: Idp) -> None:
    """Item 4: an empty body without Content-Type is a request without parameters, not an error."""
    answer = httpx.post(idp_sqlite.url("/logout"), content=b"")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/logout?r=")
    page = httpx.get(idp_sqlite.url(answer.headers["location"]))
    assert page.status_code == 200 and "Nobody is signed in" in page.text
