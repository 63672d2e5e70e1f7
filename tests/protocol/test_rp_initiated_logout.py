"""RP-Initiated Logout 1.0 and the POST-only sign-out, over HTTP (the browser tests cover the rest).

Section references are to the spec digest in shared/specs/logout-specs.md.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from exeunt.storage import outbox
from exeunt.storage import sessions as session_store
from exeunt.storage.outbox import DeliveryRecord
from exeunt.tokens.id_token import mint_id_token
from exeunt.tokens.session_state import matches
from exeunt.web.cookies import BROWSER_STATE_COOKIE, SESSION_COOKIE
from tests.support.flows import Browser, Rp, continue_from, exchange, hidden_fields, query_of, sign_out, verify_id_token
from tests.support.idp import Idp

BASE = "http://localhost:9"
# The conformance suite's kind of state: letters, digits and ASCII punctuation (§1.2 step 4).
NASTY_STATE = "aZ09" * 10 + "!\"#$%&'()*,-./:<=>?@[\\]^_`{|}~" + "Zz" * 10


@pytest.fixture
def notes(idp: Idp) -> Rp:
    idp.add_user("alice")
    secret = idp.add_client(
        "notes",
        [BASE + "/cb"],
        name="Notes",
        post_logout_redirect_uris=[BASE + "/bye", BASE + "/bye?x=1"],
        frontchannel_logout_uri=BASE + "/fc?tenant=7",
        frontchannel_logout_session_required=True,
        backchannel_logout_uri=BASE + "/bc",
    )
    return Rp("notes", BASE + "/cb", secret)


@pytest.fixture
def board(idp: Idp) -> Rp:
    idp.add_client("board", [BASE + "/board"], name="Board", public=True, frontchannel_logout_uri=BASE + "/board-fc")
    return Rp("board", BASE + "/board")


def id_token_of(idp: Idp, browser: Browser, rp: Rp, **params: str) -> tuple[str, dict[str, object]]:
    signed_in = browser.sign_in(rp, **params)
    token = exchange(idp, rp, signed_in).json()["id_token"]
    return token, verify_id_token(idp, token, rp.client_id)


def session_of(idp: Idp, sid: str) -> session_store.SessionRecord | None:
    async def read() -> session_store.SessionRecord | None:
        async with idp.provider.db.read() as conn:
            return await session_store.get(conn, sid)

    return idp.call(read())


def deliveries(idp: Idp, signout_id: str) -> list[DeliveryRecord]:
    async def read() -> list[DeliveryRecord]:
        async with idp.provider.db.read() as conn:
            return await outbox.of_signout(conn, signout_id)

    return idp.call(read())


def still_signed_in(browser: Browser, rp: Rp) -> bool:
    response = browser.authorize(
        rp, state="check", prompt="none", code_challenge="c" * 43, code_challenge_method="S256"
    )
    return "code" in query_of(response.headers["location"])


def test_sign_out_with_a_valid_hint_asks_then_ends_everything_and_redirects_with_the_exact_state(
    idp: Idp, browser: Browser, notes: Rp, board: Rp
) -> None:
    hint, claims = id_token_of(idp, browser, notes)
    browser.sign_in(board)
    old_cookie = browser.cookie(SESSION_COOKIE)
    old_state = browser.cookie(BROWSER_STATE_COOKIE)

    page, answer = sign_out(browser, id_token_hint=hint, post_logout_redirect_uri=BASE + "/bye", state=NASTY_STATE)
    assert page.status_code == 200 and "Sign out of exeunt?" in page.text
    assert "Notes" in page.text and "Board" in page.text  # the applications the user leaves
    assert still_signed_in(browser, notes) is False

    assert answer.status_code == 303 and answer.headers["location"].startswith("/logout/done/")
    cleared = [c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")]
    assert len(cleared) == 1
    assert re.search(r"Max-Age=0", cleared[0], re.I) and "Path=/" in cleared[0]
    assert "HttpOnly" in cleared[0] and re.search("SameSite=lax", cleared[0], re.I)
    assert browser.cookie(BROWSER_STATE_COOKIE) not in (None, old_state)

    done = browser.http.get(idp.url(answer.headers["location"]))
    assert done.status_code == 200 and "You are signed out" in done.text
    srcs = re.findall(r'data-frame-src="([^"]+)"', done.text)
    fc = {q.split("?")[0]: q for q in (s.replace("&amp;", "&") for s in srcs)}
    # FCL §2: keep the registered query, add iss and sid (both) when session_required.
    notes_fc = fc[BASE + "/fc"]
    assert query_of(notes_fc) == {"tenant": "7", "iss": idp.issuer, "sid": claims["sid"]}
    assert fc[BASE + "/board-fc"] == BASE + "/board-fc"  # not session_required: nothing added
    csp = done.headers["content-security-policy"]
    assert "frame-src http://localhost:9" in csp and "frame-ancestors 'none'" in csp

    location = continue_from(browser, done, idp)  # the way on goes through the provider (RIL §3's redirect)
    assert location == BASE + "/bye?" + urlencode({"state": NASTY_STATE})
    assert query_of(location) == {"state": NASTY_STATE}

    session = session_of(idp, str(claims["sid"]))
    assert session is not None and session.ended_at is not None
    signout_id = answer.headers["location"].rsplit("/", 1)[1]
    assert [(d.client_id, d.uri, d.sid) for d in deliveries(idp, signout_id)] == [
        ("notes", BASE + "/bc", claims["sid"])
    ]

    # Afterwards prompt=none is login_required with state, and the old cookie replayed is refused too.
    assert still_signed_in(browser, notes) is False
    replay = httpx.get(
        idp.url("/authorize"),
        cookies={SESSION_COOKIE: old_cookie or ""},
        params={
            "client_id": "notes",
            "redirect_uri": BASE + "/cb",
            "response_type": "code",
            "scope": "openid",
            "state": "again",
            "prompt": "none",
        },
    )
    assert query_of(replay.headers["location"]) == {
        "error": "login_required",
        "error_description": "the user is not signed in",
        "state": "again",
        "iss": idp.issuer,
        "session_state": query_of(replay.headers["location"])["session_state"],
    }


def test_gets_never_sign_out_and_the_post_needs_the_sessions_csrf_token(idp: Idp, browser: Browser, notes: Rp) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    for _ in range(2):
        assert browser.http.get(idp.url("/logout"), params={"id_token_hint": hint}).status_code == 200
    assert browser.http.get(idp.url("/logout/confirm")).status_code == 405
    assert still_signed_in(browser, notes)

    page = browser.http.get(idp.url("/logout"))
    fields = hidden_fields(page.text)
    no_token = browser.http.post(
        idp.url("/logout/confirm"), data={"pending": fields["pending"]}, headers={"Origin": idp.issuer}
    )
    assert no_token.status_code == 400 and "nobody was signed out" in no_token.text
    forged = browser.http.post(idp.url("/logout/confirm"), data=fields, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    fetch_site = browser.http.post(idp.url("/logout/confirm"), data=fields, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_site.status_code == 403
    assert still_signed_in(browser, notes)


def test_a_post_to_the_end_session_endpoint_continues_as_a_get_that_carries_the_validated_request(
    idp: Idp, browser: Browser, notes: Rp
) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    posted = httpx.post(
        idp.url("/logout"),
        data={  # no cookie, as in a cross-site form POST
            "id_token_hint": hint,
            "post_logout_redirect_uri": BASE + "/bye",
            "state": "from-post",
        },
    )
    assert posted.status_code == 303
    continuation = posted.headers["location"]
    assert continuation.startswith("/logout?r=") and hint not in continuation  # the token is not in the URL
    assert still_signed_in(browser, notes)
    page = browser.http.get(idp.url(continuation))  # the top-level GET brings the cookie
    assert "Sign out of exeunt?" in page.text
    answer = browser.http.post(
        idp.url("/logout/confirm"), data=hidden_fields(page.text), headers={"Origin": idp.issuer}
    )
    done = browser.http.get(idp.url(answer.headers["location"]))
    assert "state=from-post" in continue_from(browser, done, idp)
    assert not still_signed_in(browser, notes)


def _forged_hints(idp: Idp, hint: str, secret: str) -> dict[str, str]:
    header, payload, signature = hint.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(hint)["kid"]
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    return {
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "signed by the client (HS256 with its secret)": jwt.encode(claims, secret, algorithm="HS256"),
        "flipped byte": f"{header}.{payload}.{flipped}",
        "another key under our kid": jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid}),
        "another issuer": jwt.encode({**claims, "iss": "https://other.example"}, other_key, algorithm="RS256"),
        "not a jwt": "garbage",
    }


def test_every_forged_or_broken_hint_gets_an_error_page_that_still_offers_sign_out_and_never_redirects(
    idp: Idp, browser: Browser, notes: Rp
) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    for name, forged in _forged_hints(idp, hint, notes.secret or "").items():
        page = browser.http.get(
            idp.url("/logout"),
            params={"id_token_hint": forged, "post_logout_redirect_uri": BASE + "/bye", "state": "s"},
        )
        assert page.status_code == 400, name
        assert "id_token_hint invalid" in page.text, name
        assert 'action="/logout/confirm"' in page.text, name  # the person may still sign out
        answer = browser.http.post(
            idp.url("/logout/confirm"), data=hidden_fields(page.text), headers={"Origin": idp.issuer}
        )
        assert answer.status_code == 303, name  # signed out, though the hint was refused
        done = browser.http.get(idp.url(answer.headers["location"]))
        assert done.status_code == 200 and "/logout/done/" in answer.headers["location"], name
        assert "data-target" not in done.text and "/bye" not in done.text, name  # no redirect to the RP
        assert not still_signed_in(browser, notes), name
        browser.sign_in(notes)  # sign in again for the next variant


@pytest.mark.parametrize(
    "params, problem",
    [
        ({"post_logout_redirect_uri": BASE + "/bye/"}, "post_logout_redirect_uri not registered"),
        ({"post_logout_redirect_uri": BASE.upper() + "/bye"}, "post_logout_redirect_uri not registered"),
        ({"post_logout_redirect_uri": BASE + "/bye?foo=bar"}, "post_logout_redirect_uri not registered"),
        ({"post_logout_redirect_uri": BASE + "/bye#x"}, "post_logout_redirect_uri not registered"),
        ({"post_logout_redirect_uri": "https://evil.example/bye"}, "post_logout_redirect_uri not registered"),
        ({"client_id": "board"}, "client_id does not match"),
        ({"state": "s" * 3000}, "state is too long"),
    ],
)
def test_a_bad_request_with_a_valid_hint_gets_a_page_saying_what_was_wrong(
    idp: Idp, browser: Browser, notes: Rp, board: Rp, params: dict[str, str], problem: str
) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    page = browser.http.get(idp.url("/logout"), params={"id_token_hint": hint, **params})
    assert page.status_code == 400 and problem in page.text
    assert "location" not in page.headers


def test_no_hint_means_no_redirect_but_the_question_is_asked(idp: Idp, browser: Browser, notes: Rp) -> None:
    id_token_of(idp, browser, notes)
    without = browser.http.get(idp.url("/logout"), params={"post_logout_redirect_uri": BASE + "/bye", "state": "s"})
    assert without.status_code == 400 and "without id_token_hint or client_id" in without.text
    for params in ({}, {"state": "only-state"}):
        page = browser.http.get(idp.url("/logout"), params=params)
        assert page.status_code == 200 and "Sign out of exeunt?" in page.text, params
    # RIL §2 ui_locales: the first supported preference (Klingon is not one) speaks the question.
    french = browser.http.get(idp.url("/logout"), params={"ui_locales": "tlh-KL fr"})
    assert french.status_code == 200 and "Se déconnecter d’exeunt ?" in french.text
    _, answer = sign_out(browser, state="only-state")
    done = browser.http.get(idp.url(answer.headers["location"]))
    assert "You are signed out" in done.text and "data-target" not in done.text


def test_client_id_alone_may_name_a_registered_post_logout_uri(idp: Idp, browser: Browser, notes: Rp) -> None:
    id_token_of(idp, browser, notes)
    _, answer = sign_out(browser, client_id="notes", post_logout_redirect_uri=BASE + "/bye?x=1", state="k")
    done = browser.http.get(idp.url(answer.headers["location"]))
    assert continue_from(browser, done, idp) == BASE + "/bye?x=1&state=k"


def test_an_expired_hint_is_accepted(idp: Idp, browser: Browser, notes: Rp) -> None:
    _, claims = id_token_of(idp, browser, notes)

    async def expired_hint() -> str:
        ring = await idp.provider.runtime.key_ring()
        key = ring.signing_key("RS256", datetime.now(UTC))
        assert key is not None
        return mint_id_token(
            key,
            issuer=idp.issuer,
            client_id="notes",
            sub=str(claims["sub"]),
            sid=str(claims["sid"]),
            auth_time=datetime.now(UTC),
            nonce=None,
            access_token="x",
            lifetime=60,
            now=datetime.now(UTC) - timedelta(hours=3),
        )

    hint = idp.call(expired_hint())
    page = browser.http.get(
        idp.url("/logout"), params={"id_token_hint": hint, "post_logout_redirect_uri": BASE + "/bye", "state": "s"}
    )
    assert page.status_code == 200 and "Notes</strong> asked to sign you out" in page.text


def test_repeated_and_non_utf8_parameters_get_a_page_that_still_offers_sign_out(
    idp: Idp, browser: Browser, notes: Rp
) -> None:
    id_token_of(idp, browser, notes)
    repeated = browser.http.get(idp.url("/logout?state=a&state=b"))
    assert repeated.status_code == 400 and "repeated" in repeated.text and "/logout/confirm" in repeated.text
    bad = browser.http.get(idp.url("/logout?state=%ff"))
    assert bad.status_code == 400 and "UTF-8" in bad.text


def test_logout_when_nobody_is_signed_in_is_not_an_error(idp: Idp, browser: Browser, notes: Rp) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    sign_out(browser)
    again = browser.http.get(idp.url("/logout"))
    assert again.status_code == 200 and "Nobody is signed in" in again.text
    straight = browser.http.get(
        idp.url("/logout"), params={"id_token_hint": hint, "post_logout_redirect_uri": BASE + "/bye", "state": "x y"}
    )
    assert straight.status_code == 303 and straight.headers["location"] == BASE + "/bye?state=x+y"


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_LOGOUT_SKIP_CONFIRMATION": "true"}])
def test_skipping_the_question_still_signs_out_by_post(idp: Idp, browser: Browser, notes: Rp) -> None:
    hint, _ = id_token_of(idp, browser, notes)
    page = browser.http.get(idp.url("/logout"), params={"id_token_hint": hint})
    assert "data-autosubmit" in page.text and 'method="post"' in page.text and "autosubmit.js" in page.text
    assert still_signed_in(browser, notes)
    unhinted = browser.http.get(idp.url("/logout"))
    assert "data-autosubmit" not in unhinted.text  # no valid hint: always ask


def test_a_new_sign_in_replaces_the_browsers_session_and_records_its_end(idp: Idp, browser: Browser, notes: Rp) -> None:
    _, first = id_token_of(idp, browser, notes)
    _, second = id_token_of(idp, browser, notes, prompt="login")
    old = session_of(idp, str(first["sid"]))
    assert old is not None and old.ended_at is not None
    assert first["sid"] != second["sid"]


def test_session_state_is_the_hash_of_client_origin_and_browser_state(idp: Idp, browser: Browser, notes: Rp) -> None:
    signed_in = browser.sign_in(notes)
    state = browser.cookie(BROWSER_STATE_COOKIE)
    assert state and matches(signed_in.params["session_state"], "notes", "http://localhost:9", state)
    sign_out(browser)
    assert not matches(
        signed_in.params["session_state"], "notes", "http://localhost:9", browser.cookie(BROWSER_STATE_COOKIE) or ""
    )


def test_check_session_iframe_is_frameable_by_clients_only_and_discovery_advertises_logout(
    idp: Idp, notes: Rp, board: Rp
) -> None:
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    for flag in (
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
    ):
        assert meta[flag] is True
    assert meta["end_session_endpoint"] == idp.url("/logout")
    frame = httpx.get(meta["check_session_iframe"])
    assert frame.status_code == 200 and "x-frame-options" not in frame.headers
    assert "frame-ancestors http://localhost:9" in frame.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in httpx.get(idp.url("/login")).headers["content-security-policy"]
    origins = httpx.get(idp.url("/session/check/origins"), params={"client_id": "notes"})
    assert origins.json() == {"origins": ["http://localhost:9"]}
    assert httpx.get(idp.url("/session/check/origins"), params={"client_id": "nope"}).status_code == 404
