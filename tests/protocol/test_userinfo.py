"""The userinfo endpoint reads the access token as RFC 6750 allows, one way only."""

from __future__ import annotations

import httpx

from tests.support.flows import Browser, Rp, exchange
from tests.support.idp import Idp

CB = "http://localhost:9/cb"


def test_userinfo_takes_the_access_token_from_a_form_body_but_never_two_ways(idp_sqlite: Idp) -> None:
    """Item 2: RFC 6750 §2.2 (pyoidc's default userinfo call sends it so); §2: one way only; never the query."""
    idp = idp_sqlite
    idp.add_user("alice")
    rp = Rp("notes", CB, idp.add_client("notes", [CB]))
    browser = Browser(idp)
    token = exchange(idp, rp, browser.sign_in(rp, scope="openid profile")).json()["access_token"]
    body = httpx.post(idp.url("/userinfo"), data={"access_token": token})
    assert body.status_code == 200 and body.json()["preferred_username"] == "alice"
    both = httpx.post(idp.url("/userinfo"), data={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    query = httpx.get(idp.url("/userinfo"), params={"access_token": token})
    assert query.status_code == 401
    browser.close()
