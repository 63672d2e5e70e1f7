"""Global Token Revocation ends a person everywhere: every session (every application told), every
refresh token (offline ones too) and access token; the next authorization needs a sign-in.  And
every refusal the draft names: 400, 401, 403, 404, 422.  SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exeunt.storage import sessions as session_store
from tests.support.flows import Browser, Rp, exchange, query_of
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import receiver
from tests.support.ssf_receiver import SESSION_REVOKED, SsfReceiver, register_receiver

SCOPE = "global_token_revocation"


@pytest.fixture
def rx(idp: Idp) -> Iterator[SsfReceiver]:
    receiver_ = register_receiver(idp, "rx")
    yield receiver_
    receiver_.stop()


@pytest.fixture
def browsers() -> Iterator[list[Browser]]:
    made: list[Browser] = []
    yield made
    for b in made:
        b.close()


def revoke(idp: Idp, token: str, body: Any) -> httpx.Response:
    return httpx.post(idp.url("/global-token-revocation"), json=body, headers={"Authorization": f"Bearer {token}"})


def test_revocation_ends_every_session_and_token_of_the_person(
    idp: Idp, rx: SsfReceiver, receivers: list[RecordingRp], browsers: list[Browser]
) -> None:
    idp.add_user("alice", email="alice@example.org")
    notes = receiver(idp, receivers, "notes")
    idp.call(_offline_client(idp))
    rx_stream = rx.create_push()
    apps = [Rp("notes", notes.redirect_uri, notes.secret), Rp("rx", "http://127.0.0.1:9/rx/cb", rx.secret)]
    offline = Rp("offline", "http://127.0.0.1:9/offline/cb", OFFLINE_SECRET)
    tokens: list[dict[str, Any]] = []
    for _ in range(2):  # a laptop and a phone
        browser = Browser(idp)
        browsers.append(browser)
        for rp in apps:
            exchange(idp, rp, browser.sign_in(rp))
        tokens.append(exchange(idp, offline, browser.sign_in(offline, scope="openid offline_access")).json())
    answer = revoke(idp, rx.token(SCOPE, keep=False), {"sub_id": {"format": "email", "email": "alice@example.org"}})
    assert answer.status_code == 204 and answer.content == b""
    notes.wait_for("backchannel", count=2)  # both sessions' applications are told
    idp.settle()
    revoked = rx.wait_pushed(2, kind=SESSION_REVOKED)
    assert {s["events"][SESSION_REVOKED]["initiating_entity"] for s in revoked} == {"system"}
    assert len({s["txn"] for s in revoked}) == 1 and rx_stream  # one cause
    for grant in tokens:
        refreshed = httpx.post(
            idp.url("/token"),
            data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]},
            auth=("offline", OFFLINE_SECRET),
        )
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        inspected = httpx.post(
            idp.url("/introspect"), data={"token": grant["access_token"]}, auth=("offline", OFFLINE_SECRET)
        )
        assert inspected.json() == {"active": False}
        info = httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {grant['access_token']}"})
        assert info.status_code == 401
    for browser in browsers:
        again = browser.authorize(apps[0], prompt="none", state="s")
        assert query_of(again.headers["location"]).get("error") == "login_required"
    reasons = idp.call(_reasons(idp))
    assert reasons == {"revoked"}


OFFLINE_SECRET = "o" * 40


async def _offline_client(idp: Idp) -> None:
    from exeunt.operations import applications
    from exeunt.protocol.registration import build_client

    client = build_client(
        client_id="offline",
        name="Offline",
        redirect_uris=["http://127.0.0.1:9/offline/cb"],
        grant_types=["authorization_code", "refresh_token"],
        allow_offline_access=True,
    )
    await applications.add_client(idp.provider.db, client, OFFLINE_SECRET, now=idp.clock.now())


async def _reasons(idp: Idp) -> set[str | None]:
    async with idp.provider.db.read() as conn:
        return {
            s.ended_reason
            for s in await session_store.listing(conn, live_at=None, user_id=None, client_id=None, limit=100)
        }


def test_every_refusal_the_draft_names(idp: Idp, rx: SsfReceiver, browsers: list[Browser]) -> None:
    idp.add_user("alice", email="shared@example.org")
    idp.add_user("bob")
    idp.add_user("carol", email="shared@example.org")
    for user in ("alice", "carol"):  # both used rx
        browser = Browser(idp)
        browsers.append(browser)
        exchange(
            idp,
            Rp("rx", "http://127.0.0.1:9/rx/cb", rx.secret),
            browser.sign_in(Rp("rx", "http://127.0.0.1:9/rx/cb", rx.secret), username=user),
        )
    token = rx.token(SCOPE, keep=False)
    bob_sub = idp.call(_sub(idp, "bob"))
    alice_sub = idp.call(_sub(idp, "alice"))
    # 400: malformed, or a subject format it cannot use
    for body in ("not json", [], {}, {"sub_id": "alice"}, {"sub_id": {"format": "phone_number", "phone_number": "+1"}},
                 {"sub_id": {"format": "iss_sub", "iss": idp.issuer}}):  # fmt: skip
        answer = httpx.post(
            idp.url("/global-token-revocation"),
            content=body if isinstance(body, str) else None,
            json=None if isinstance(body, str) else body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", body
    # 401: no token, an unknown one, one in the query only
    assert httpx.post(idp.url("/global-token-revocation"), json={"sub_id": {}}).status_code == 401
    assert revoke(idp, "nonsense", {"sub_id": {}}).status_code == 401
    query = httpx.post(idp.url("/global-token-revocation") + f"?access_token={token}", json={"sub_id": {}})
    assert query.status_code == 401 and "www-authenticate" in query.headers
    # 403: a token without the scope (a Shared Signals one)
    wrong = revoke(idp, rx.token("ssf.manage", keep=False), {"sub_id": {"format": "opaque", "id": alice_sub}})
    assert wrong.status_code == 403 and 'error="insufficient_scope"' in wrong.headers["www-authenticate"]
    # 404: nobody, another issuer's subject, and a person who never used the caller's client
    for sub_id in (
        {"format": "opaque", "id": "nobody"},
        {"format": "iss_sub", "iss": "https://elsewhere.example", "sub": alice_sub},
        {"format": "iss_sub", "iss": idp.issuer, "sub": bob_sub},
        {"format": "email", "email": "nobody@example.org"},
    ):
        assert revoke(idp, token, {"sub_id": sub_id}).status_code == 404, sub_id
    # 422: an email two people share
    ambiguous = revoke(idp, token, {"sub_id": {"format": "email", "email": "shared@example.org"}})
    assert ambiguous.status_code == 422
    # A security tool registered for all subjects may revoke bob.
    tool = register_receiver(idp, "tool", all_subjects=True, redirect=False)
    try:
        assert (
            revoke(idp, tool.token(SCOPE, keep=False), {"sub_id": {"format": "opaque", "id": bob_sub}}).status_code
            == 204
        )
    finally:
        tool.stop()


async def _sub(idp: Idp, username: str) -> str:
    from exeunt.storage import users

    async with idp.provider.db.read() as conn:
        user = await users.get_by_username(conn, username)
    assert user is not None
    return user.sub
