"""A client registered for ES256 gets ES256 tokens; an algorithm no key can sign is refused with the fix."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cli import exeunt
from tests.support.flows import Browser, Rp, exchange, sign_out, verify_id_token
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import logout_token_of, receiver, sign_in_to

CB = "http://localhost:9/cb"


def test_a_client_registered_for_es256_gets_es256_tokens_on_a_default_install(
    idp_sqlite: Idp, receivers: list[RecordingRp]
) -> None:
    """Item 1: a key per algorithm from the first start; id_tokens and logout tokens never fall back."""
    idp = idp_sqlite
    idp.add_user("alice")
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert sorted(k["alg"] for k in idp.jwks()["keys"]) == ["ES256", "RS256"]
    ec_app = RecordingRp("ec-app")
    receivers.append(ec_app)
    secret = idp.add_client(
        "ec-app", [ec_app.redirect_uri], id_token_signed_response_alg="ES256", **ec_app.metadata(backchannel=True)
    )
    ec_app.start(idp.issuer, secret)
    rs_app = receiver(idp, receivers, "rs-app")
    browser = Browser(idp)
    sign_in_to(idp, browser, [rs_app])
    client = Rp("ec-app", ec_app.redirect_uri, secret)
    id_token = exchange(idp, client, browser.sign_in(client)).json()["id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "ES256"
    sid = verify_id_token(idp, id_token, "ec-app")["sid"]
    sign_out(browser)
    for rp, alg in ((ec_app, "ES256"), (rs_app, "RS256")):
        [event] = rp.wait_for("backchannel")
        header, claims = logout_token_of(idp, event.data["body"], rp.client_id)
        assert header["alg"] == alg and claims["sid"] == sid
    browser.close()


def test_a_client_algorithm_the_key_files_lack_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Item 1: with operator-supplied PEM keys, registering an algorithm they lack is refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.pem").write_bytes(pem)
    env = {"EXEUNT_SIGNING_KEY_FILES": str(tmp_path / "rsa.pem")}
    refused = exeunt(
        "clients", "add", "ec-app", "--redirect-uri", CB, "--id-token-signed-response-alg", "ES256",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "no ES256 key in EXEUNT_SIGNING_KEY_FILES (it has RS256)" in refused.stderr, refused.stderr
    accepted = exeunt("clients", "add", "rs-app", "--redirect-uri", CB, cwd=tmp_path, env=env)
    assert accepted.returncode == 0, accepted.stderr
