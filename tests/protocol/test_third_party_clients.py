"""Sign-ins driven by well-known OIDC client libraries (Authlib, pyoidc, idpyoidc; openid-client on Node),
not by our helpers."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.flows import Browser, hidden_fields
from tests.support.idp import PASSWORD, Idp

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Authlib announces its own deprecations
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken

REDIRECT = "http://localhost:9/authlib/callback"


@pytest.mark.parametrize(
    "idp_settings, client_alg",
    [({}, None), ({"EXEUNT_SIGNING_ALG": "ES256"}, None), ({}, "ES256")],
    ids=["RS256", "ES256-default", "ES256-client-on-default-install"],
)
def test_authlib_client_signs_in_with_pkce_and_validates_the_id_token(
    idp_sqlite: Idp, browser: Browser, client_alg: str | None
) -> None:
    idp = idp_sqlite
    idp.add_user("alice")
    secret = idp.add_client("authlib-app", [REDIRECT], id_token_signed_response_alg=client_alg)
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Authlib announces its own deprecations
        client = OAuth2Client(
            "authlib-app",
            secret,
            scope="openid profile",
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
        verifier = "v" * 20 + "erifier-long-enough-for-rfc7636-rules"
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
        )
        login_page = browser.http.get(url)
        assert login_page.status_code == 200
        callback = browser.http.post(
            idp.url("/login"),
            headers={"Origin": idp.issuer},
            data={**hidden_fields(login_page.text), "username": "alice", "password": PASSWORD},
        )
        assert callback.status_code == 303
        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=callback.headers["location"], code_verifier=verifier
        )
        keys = JsonWebKey.import_key_set(httpx.get(meta["jwks_uri"]).json())
        claims = jwt.decode(
            token["id_token"],
            keys,
            claims_cls=CodeIDToken,
            claims_options={"iss": {"essential": True, "value": idp.issuer}},
            claims_params={"nonce": "n-0S6_WzA2Mj", "client_id": "authlib-app", "access_token": token["access_token"]},
        )
        claims.validate()
        client.close()
    assert state and claims["sid"]
    assert claims.header["alg"] == (client_alg or idp.config.signing_alg)  # never another algorithm
    assert claims["aud"] == "authlib-app"
    info = httpx.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.json()["preferred_username"] == "alice"


OPENID_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "openid-client"


def _openid_client(*args: str) -> dict[str, Any]:
    """One step of tests/clients/openid-client/rp.mjs; its JSON answer."""
    done = subprocess.run(
        ["node", str(OPENID_CLIENT / "rp.mjs"), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.mark.parametrize("client_alg", ["ES256", "RS256"])
def test_openid_client_signs_in_with_the_algorithm_it_registered_on_a_default_install(
    idp_sqlite: Idp, browser: Browser, client_alg: str
) -> None:
    """Issue 12.1: openid-client rejected exeunt's RS256 id_tokens for an ES256 client; no more."""
    if not (OPENID_CLIENT / "node_modules" / "openid-client").is_dir():
        pytest.fail("openid-client is not installed: run scripts/test (it runs npm ci in tests/clients/openid-client)")
    idp = idp_sqlite
    idp.add_user("alice")
    callback = "http://localhost:9/openid-client/cb"
    secret = idp.add_client(
        "oc-app", [callback], id_token_signed_response_alg=client_alg, post_logout_redirect_uris=[callback]
    )
    common = [idp.issuer, "oc-app", secret or "", client_alg]
    start = _openid_client("start", *common, callback)
    login_page = browser.http.get(start["url"])
    answer = browser.submit_login(login_page)
    assert answer.status_code == 303, answer.text
    done = _openid_client(
        "finish", *common, answer.headers["location"], start["verifier"], start["state"], start["nonce"]
    )
    assert done["alg"] == client_alg
    assert done["claims"]["aud"] == "oc-app" and done["claims"]["sid"]
    assert done["userinfo"]["preferred_username"] == "alice"
    assert done["logout_url"].startswith(idp.issuer + "/logout?")


def test_pyoidc_signs_in_and_its_default_userinfo_call_works(idp_sqlite: Idp, browser: Browser) -> None:
    """Issue 12.2: pyoidc (oic) sends the access token in a POST body at userinfo by default."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyoidc's dependencies announce their own deprecations
        from oic.oic import Client
        from oic.oic.message import AuthorizationResponse, RegistrationResponse
        from oic.utils.authn.client import CLIENT_AUTHN_METHOD

        idp = idp_sqlite
        idp.add_user("alice")
        callback = "http://localhost:9/pyoidc/cb"
        secret = idp.add_client("pyoidc-app", [callback])
        client = Client(client_id="pyoidc-app", client_authn_method=CLIENT_AUTHN_METHOD)
        client.provider_config(idp.issuer)
        client.store_registration_info(
            RegistrationResponse(client_id="pyoidc-app", client_secret=secret, redirect_uris=[callback])
        )
        request = client.construct_AuthorizationRequest(
            request_args={
                "client_id": "pyoidc-app",
                "response_type": "code",
                "scope": ["openid", "profile"],
                "nonce": "pyoidc-nonce",
                "redirect_uri": callback,
                "state": "pyoidc-state",
            }
        )
        login_page = browser.http.get(request.request(client.authorization_endpoint))
        answer = browser.submit_login(login_page)
        assert answer.status_code == 303, answer.text
        query = answer.headers["location"].split("?", 1)[1]
        response = client.parse_response(AuthorizationResponse, info=query, sformat="urlencoded")
        tokens = client.do_access_token_request(
            state=response["state"], request_args={"code": response["code"]}, authn_method="client_secret_basic"
        )
        assert tokens["id_token"]["sub"] and tokens["id_token"]["sid"]
        info = client.do_user_info_request(state=response["state"])  # POST, the token in the body
    assert info["preferred_username"] == "alice"


def test_idpyoidc_signs_in_and_fetches_userinfo(idp_sqlite: Idp, browser: Browser, tmp_path: Path) -> None:
    """idpyoidc (pyoidc's successor): discovery, code flow, id_token checked, userinfo, through its RPHandler."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its dependencies announce their own deprecations
        from idpyoidc.client.rp_handler import RPHandler

        idp = idp_sqlite
        idp.add_user("alice")
        callback = "http://localhost:9/idpy/cb"
        secret = idp.add_client("idpy-app", [callback])
        configuration = {
            "exeunt": {
                "issuer": idp.issuer,
                "client_id": "idpy-app",
                "client_secret": secret,
                "redirect_uris": [callback],
                "client_type": "oidc",
                "behaviour": {"response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"},
            }
        }
        # Its own keys go to this test's folder (by default it writes static/ and private/ where it runs).
        key_conf = {
            "private_path": str(tmp_path / "private-jwks.json"),
            "public_path": str(tmp_path / "jwks.json"),
            "key_defs": [{"type": "RSA", "use": ["sig"]}],
            "read_only": False,
        }
        handler = RPHandler(base_url="http://localhost:9", client_configs=configuration, key_conf=key_conf)
        login_page = browser.http.get(handler.begin("exeunt"))
        answer = browser.submit_login(login_page)
        assert answer.status_code == 303, answer.text
        query = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        result = handler.finalize(idp.issuer, query)
    assert result["issuer"] == idp.issuer and result["id_token"]["sid"]
    assert result["userinfo"]["sub"] == result["id_token"]["sub"]
