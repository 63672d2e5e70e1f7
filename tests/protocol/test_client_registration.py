"""Dynamic Client Registration (RFC 7591, OIDC Registration 1.0) and its management (RFC 7592):
every logout field works as if an operator had typed it, validated by the same rules; the
registration access token rotates on every use; every rejection the RFCs define.  Real RP
libraries register themselves: openid-client (Node) and pyoidc.  SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exeunt.operations import registration as registration_operations
from tests.support.flows import Browser, Rp, exchange, sign_out, verify_id_token
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import logout_token_of

OPENID_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "openid-client"


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_REGISTRATION": "token"}


def initial_token(idp: Idp, *, max_uses: int | None = None, scopes: list[str] | None = None) -> str:
    _, token = idp.call(
        registration_operations.create_initial_token(
            idp.provider.db, note="tests", scopes=scopes or [], max_uses=max_uses, expires_in=None, now=idp.clock.now()
        )
    )
    return str(token)


def register(idp: Idp, metadata: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(idp.url("/register"), json=metadata, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def rps(receivers: list[RecordingRp]) -> Iterator[tuple[RecordingRp, RecordingRp]]:
    first, second = RecordingRp("first"), RecordingRp("second")
    receivers += [first, second]
    yield first, second


def test_a_registered_client_signs_in_is_told_by_back_channel_changes_its_uri_and_is_deleted(
    idp: Idp, rps: tuple[RecordingRp, RecordingRp]
) -> None:
    first, second = rps
    idp.add_user("alice")
    assert httpx.get(idp.url("/.well-known/openid-configuration")).json()["registration_endpoint"] == idp.url(
        "/register"
    )
    metadata = {
        "client_name": "Registered <App>",
        "redirect_uris": [first.redirect_uri],
        "post_logout_redirect_uris": [first.base + "/bye"],
        "frontchannel_logout_uri": first.base + "/fc",
        "frontchannel_logout_session_required": True,
        "backchannel_logout_uri": first.base + "/bc",
        "backchannel_logout_session_required": True,
        "grant_types": ["authorization_code", "refresh_token"],
        "id_token_signed_response_alg": "ES256",
        "contacts": ["ops@example.org"],
        "client_uri": "https://app.example.org/",
        "unknown_metadata": "ignored",
    }
    answer = register(idp, metadata, initial_token(idp))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    for name in ("client_id", "client_secret", "registration_access_token", "registration_client_uri"):
        assert created[name], name
    assert created["client_secret_expires_at"] == 0 and created["client_id_issued_at"] > 0
    assert created["registration_client_uri"] == idp.url(f"/register/{created['client_id']}")
    assert created["token_endpoint_auth_method"] == "client_secret_basic"  # the default, filled in
    assert created["response_types"] == ["code"] and created["application_type"] == "web"
    assert created["backchannel_logout_uri"] == first.base + "/bc" and "unknown_metadata" not in created
    client_id, secret = created["client_id"], created["client_secret"]
    first.client_id = second.client_id = client_id
    first.start(idp.issuer, secret)
    second.start(idp.issuer, secret)
    rp = Rp(client_id, first.redirect_uri, secret)
    browser = Browser(idp)
    try:
        tokens = exchange(idp, rp, browser.sign_in(rp)).json()
        claims = verify_id_token(idp, tokens["id_token"], client_id)
        page, _ = sign_out(browser)
        assert "Registered &lt;App&gt;" in page.text  # its name, escaped
        [told] = first.wait_for("backchannel")
        header, token = logout_token_of(idp, told.data["body"], client_id)
        assert header["alg"] == "ES256" and token["sid"] == claims["sid"]
        # RFC 7592: read it (the token rotates), then replace it with a new back-channel URI.
        access = created["registration_access_token"]
        read = httpx.get(created["registration_client_uri"], headers=bearer(access))
        assert read.status_code == 200 and "client_secret" not in read.json()
        rotated = read.json()["registration_access_token"]
        assert rotated != access
        stale = httpx.get(created["registration_client_uri"], headers=bearer(access))
        assert stale.status_code == 401 and stale.json()["error"] == "invalid_token"  # a leaked old token
        changed = httpx.put(
            created["registration_client_uri"],
            json={**metadata, "client_id": client_id, "backchannel_logout_uri": second.base + "/bc"},
            headers=bearer(rotated),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["backchannel_logout_uri"] == second.base + "/bc"
        exchange(idp, rp, browser.sign_in(rp))
        sign_out(browser)
        second.wait_for("backchannel")
        assert len(first.events("backchannel")) == 1  # the next sign-out went to the new URI
        refresh = tokens["refresh_token"]
        gone = httpx.delete(
            created["registration_client_uri"], headers=bearer(changed.json()["registration_access_token"])
        )
        assert gone.status_code == 204
        refused = httpx.post(idp.url("/token"), data={"grant_type": "refresh_token", "refresh_token": refresh},
                             auth=(client_id, secret))  # fmt: skip
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert httpx.get(created["registration_client_uri"], headers=bearer(access)).status_code == 401
    finally:
        browser.close()


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri"),  # http off loopback
        ({"redirect_uris": ["https://user@app.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["com.example.app:/cb"]}, "invalid_redirect_uri"),  # private-use: native only
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": "https://app.example/cb"}, "invalid_redirect_uri"),
        (
            {"redirect_uris": ["https://app.example/cb"], "frontchannel_logout_uri": "https://other.example/fc"},
            "invalid_client_metadata",
        ),  # fmt: skip
        (
            {"redirect_uris": ["https://app.example/cb"], "backchannel_logout_session_required": True},
            "invalid_client_metadata",
        ),  # fmt: skip
        (
            {"redirect_uris": ["https://app.example/cb"], "backchannel_logout_uri": "ftp://app.example/bc"},
            "invalid_client_metadata",
        ),  # fmt: skip
        ({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}, "invalid_client_metadata"),
        ({"redirect_uris": ["https://app.example/cb"], "grant_types": ["implicit"]}, "invalid_client_metadata"),
        (
            {"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt"},
            "invalid_client_metadata",
        ),  # fmt: skip
        (
            {"redirect_uris": ["https://app.example/cb"], "id_token_signed_response_alg": "none"},
            "invalid_client_metadata",
        ),
        ({"redirect_uris": ["https://app.example/cb"], "scope": "openid ssf.manage"}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
        ({"redirect_uris": ["https://app.example/cb"], "logo_uri": "javascript:x"}, "invalid_client_metadata"),
        ({"redirect_uris": ["https://app.example/cb"], "client_name": "x" * 201}, "invalid_client_metadata"),
        ({"redirect_uris": ["https://app.example/cb"], "software_statement": "e30.e30."}, "invalid_software_statement"),
        ([], "invalid_client_metadata"),
    ],
)
def test_every_rejection_names_the_field(idp: Idp, metadata: object, error: str) -> None:
    answer = httpx.post(idp.url("/register"), json=metadata, headers=bearer(initial_token(idp)))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error and answer.json()["error_description"]


def test_who_may_register(idp: Idp) -> None:
    metadata = {"redirect_uris": ["http://127.0.0.1:9/cb"]}
    assert register(idp, metadata, None).status_code == 401  # token mode: no token, no registration
    assert register(idp, metadata, "made-up").status_code == 401
    once = initial_token(idp, max_uses=1)
    assert register(idp, metadata, once).status_code == 201
    assert register(idp, metadata, once).status_code == 401  # used up
    # A failing registration spends nothing.
    twice = initial_token(idp, max_uses=1)
    assert register(idp, {"redirect_uris": ["javascript:x"]}, twice).status_code == 400
    assert register(idp, metadata, twice).status_code == 201
    # Service scopes only as far as the initial access token allows.
    scoped = initial_token(idp, scopes=["ssf.manage", "ssf.read"])
    receiver = {"grant_types": ["client_credentials"], "scope": "ssf.manage ssf.read"}
    answer = register(idp, receiver, scoped)
    assert answer.status_code == 201 and answer.json()["scope"] == "ssf.manage ssf.read"
    client = answer.json()
    token = httpx.post(idp.url("/token"), data={"grant_type": "client_credentials"},
                       auth=(client["client_id"], client["client_secret"]))  # fmt: skip
    assert token.status_code == 200 and token.json()["scope"] == "ssf.manage ssf.read"
    # An operator-registered client has no registration access token: it cannot be managed over HTTP.
    secret = idp.add_client("operators", ["http://127.0.0.1:9/cb"])
    assert secret and httpx.get(idp.url("/register/operators"), headers=bearer("anything")).status_code == 401


def test_a_replacement_must_name_itself_and_its_secret(idp: Idp) -> None:
    created = register(idp, {"redirect_uris": ["http://127.0.0.1:9/cb"]}, initial_token(idp)).json()
    uri, access = created["registration_client_uri"], created["registration_access_token"]
    for body in (
        {"client_id": "someone-else", "redirect_uris": ["http://127.0.0.1:9/cb"]},
        {"client_id": created["client_id"], "redirect_uris": ["http://127.0.0.1:9/cb"], "client_secret": "wrong"},
        {
            "client_id": created["client_id"],
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "registration_access_token": "x",
        },
    ):
        answer = httpx.put(uri, json=body, headers=bearer(access))
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"
    # Refused replacements changed nothing, the token included.
    assert httpx.get(uri, headers=bearer(access)).status_code == 200


def test_one_token_racing_itself_wins_once(idp: Idp) -> None:
    """A GET and a DELETE with the same registration access token at once: one wins, the other is 401,
    and the client is either there (with the winner's new token) or gone; never both, never neither."""
    for _ in range(4):
        created = register(idp, {"redirect_uris": ["http://127.0.0.1:9/cb"]}, initial_token(idp)).json()
        uri, access = created["registration_client_uri"], created["registration_access_token"]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            got = pool.submit(httpx.get, uri, headers=bearer(access))
            deleted = pool.submit(httpx.delete, uri, headers=bearer(access))
            statuses = sorted([got.result().status_code, deleted.result().status_code])
        assert statuses in ([200, 401], [204, 401]), statuses
        if got.result().status_code == 200:  # it is still there, and only the new token manages it
            fresh = got.result().json()["registration_access_token"]
            assert httpx.delete(uri, headers=bearer(fresh)).status_code == 204


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_REGISTRATION": "open"}])
def test_open_registration_needs_no_token_but_is_limited_by_address(idp_sqlite: Idp) -> None:
    statuses = [register(idp_sqlite, {"redirect_uris": ["http://127.0.0.1:9/cb"]}, None).status_code for _ in range(22)]
    assert statuses[:20] == [201] * 20 and statuses[-1] == 429


@pytest.mark.parametrize("idp_settings", [{}])
def test_registration_is_off_by_default(idp_sqlite: Idp) -> None:
    assert register(idp_sqlite, {"redirect_uris": ["http://127.0.0.1:9/cb"]}, None).status_code == 404
    assert "registration_endpoint" not in httpx.get(idp_sqlite.url("/.well-known/openid-configuration")).json()


def _openid_client(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(OPENID_CLIENT / "rp.mjs"), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_openid_client_registers_itself_signs_in_and_is_signed_out_by_back_channel(
    idp_sqlite: Idp, receivers: list[RecordingRp]
) -> None:
    if not (OPENID_CLIENT / "node_modules" / "openid-client").is_dir():
        pytest.fail("openid-client is not installed: run scripts/test (it runs npm ci in tests/clients/openid-client)")
    idp = idp_sqlite
    idp.add_user("alice")
    app = RecordingRp("oc")
    receivers.append(app)
    metadata = {
        "redirect_uris": [app.redirect_uri],
        "backchannel_logout_uri": app.base + "/bc",
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "ES256",
    }
    registered = _openid_client("register", idp.issuer, initial_token(idp), json.dumps(metadata))
    client_id, secret = registered["client_id"], registered["client_secret"]
    assert registered["backchannel_logout_uri"] == app.base + "/bc" and registered["registration_access_token"]
    app.client_id = client_id
    app.start(idp.issuer, secret)
    browser = Browser(idp)
    try:
        common = [idp.issuer, client_id, secret, "ES256"]
        start = _openid_client("start", *common, app.redirect_uri)
        answer = browser.submit_login(browser.http.get(start["url"]))
        done = _openid_client(
            "finish", *common, answer.headers["location"], start["verifier"], start["state"], start["nonce"]
        )
        assert done["alg"] == "ES256" and done["claims"]["aud"] == client_id
        sign_out(browser)
        [told] = app.wait_for("backchannel")
        assert logout_token_of(idp, told.data["body"], client_id)[1]["sid"] == done["claims"]["sid"]
    finally:
        browser.close()
    gone = httpx.delete(registered["registration_client_uri"], headers=bearer(registered["registration_access_token"]))
    assert gone.status_code == 204


def test_pyoidc_registers_itself(idp_sqlite: Idp) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyoidc's dependencies announce their own deprecations
        from oic.oic import Client
        from oic.utils.authn.client import CLIENT_AUTHN_METHOD

        idp = idp_sqlite
        client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
        client.provider_config(idp.issuer)
        response = client.register(
            client.provider_info["registration_endpoint"],
            registration_token=initial_token(idp),
            redirect_uris=["http://127.0.0.1:9/pyoidc/cb"],
            post_logout_redirect_uris=["http://127.0.0.1:9/pyoidc/"],
            backchannel_logout_uri="http://127.0.0.1:9/pyoidc/bc",
        )
    assert response["client_id"] and response["client_secret"]
    assert response["backchannel_logout_uri"] == "http://127.0.0.1:9/pyoidc/bc"
    assert client.client_id == response["client_id"]
