"""Operating exeunt: health, readiness, metrics, request ids, logs, key rotation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from exeunt.operations import applications
from exeunt.operations import keys as key_operations
from exeunt.runtime import KEY_RING_TTL
from exeunt.web.provider import CLIENT_CACHE_TTL
from tests.support.cli import exeunt
from tests.support.flows import Browser, Rp, exchange, sign_out, verify_id_token
from tests.support.idp import Idp
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port


def test_health_readiness_and_metrics(idp: Idp, browser: Browser) -> None:
    assert httpx.get(idp.url("/healthz")).text == "ok\n"
    ready = httpx.get(idp.url("/readyz"))
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}

    idp.add_user("alice")
    secret = idp.add_client("notes", ["http://localhost:9/cb"])
    rp = Rp("notes", "http://localhost:9/cb", secret)
    exchange(idp, rp, browser.sign_in(rp))
    sign_out(browser)
    text = httpx.get(idp.url("/metrics")).text
    assert 'exeunt_http_requests_total{method="GET",route="/authorize",status="200"}' in text
    assert 'exeunt_signins_total{outcome="success"}' in text
    assert 'exeunt_signouts_total{reason="user"}' in text
    assert "exeunt_outbox_pending 0.0" in text and "exeunt_outbox_oldest_pending_seconds" in text
    assert "exeunt_backchannel_delivery_seconds_bucket" in text


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_METRICS_TOKEN": "s3cret-metrics-token"}])
def test_metrics_can_require_a_bearer_token(idp_sqlite: Idp) -> None:
    assert httpx.get(idp_sqlite.url("/metrics")).status_code == 401
    wrong = httpx.get(idp_sqlite.url("/metrics"), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = httpx.get(idp_sqlite.url("/metrics"), headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert right.status_code == 200 and "exeunt_http_requests_total" in right.text


def test_request_ids_are_echoed_or_made(idp_sqlite: Idp) -> None:
    mine = httpx.get(idp_sqlite.url("/healthz"), headers={"X-Request-ID": "trace-123"})
    assert mine.headers["x-request-id"] == "trace-123"
    hostile = httpx.get(idp_sqlite.url("/healthz"), headers={"X-Request-ID": "a b;<x>" * 40})
    assert hostile.headers["x-request-id"] != "a b;<x>" * 40 and len(hostile.headers["x-request-id"]) == 16


def test_key_rotation_publishes_first_signs_later_and_old_tokens_still_verify(idp: Idp, browser: Browser) -> None:
    idp.add_user("alice")
    secret = idp.add_client("notes", ["http://localhost:9/cb"], post_logout_redirect_uris=["http://localhost:9/bye"])
    rp = Rp("notes", "http://localhost:9/cb", secret)
    old_token = exchange(idp, rp, browser.sign_in(rp)).json()["id_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    [record] = idp.call(
        key_operations.rotate_keys(
            idp.provider.db, idp.config, algs=("RS256",), delay=timedelta(minutes=10), now=idp.clock.now()
        )
    )
    new_kid = record.kid
    idp.travel(KEY_RING_TTL + 1)  # other processes' key rings reload within this
    kids = {k["kid"] for k in idp.jwks()["keys"] if k["alg"] == "RS256"}
    assert kids == {old_kid, new_kid}  # published at once
    still_old = exchange(idp, rp, browser.sign_in(rp)).json()["id_token"]
    assert jwt.get_unverified_header(still_old)["kid"] == old_kid  # …but not signing yet

    idp.travel(600)  # the rotation delay has passed: the new key signs, the old one only verifies
    signed_in = browser.sign_in(rp)
    new_token = exchange(idp, rp, signed_in).json()["id_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    verify_id_token(idp, old_token, "notes")  # the old key is still in the JWKS
    # A hint signed by the retired key still identifies the client.
    page = browser.http.get(
        idp.url("/logout"), params={"id_token_hint": old_token, "post_logout_redirect_uri": "http://localhost:9/bye"}
    )
    assert page.status_code == 200 and "Notes</strong> asked" in page.text


def test_keys_cli_rotate_list_retire(tmp_path: Path) -> None:
    assert exeunt("migrate", cwd=tmp_path).returncode == 0
    env = {"EXEUNT_KEY_ROTATION_DELAY": "0"}
    first = exeunt("keys", "rotate", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    listing = exeunt("keys", "list", cwd=tmp_path).stdout
    assert listing.count("RS256") == 1 and listing.count("ES256") == 1 and listing.count("\tsigning\t") == 2
    second = exeunt("keys", "rotate", "--delay", "600", cwd=tmp_path)  # every algorithm rotates together
    assert second.returncode == 0, second.stderr
    listing = exeunt("keys", "list", cwd=tmp_path).stdout
    assert listing.count("\tsigning\t") == 2 and listing.count("\tnext\t") == 2, listing
    only = exeunt("keys", "rotate", "--alg", "ES256", "--delay", "600", cwd=tmp_path)
    assert only.returncode == 0 and "(ES256)" in only.stdout and "RS256" not in only.stdout
    new_kid = second.stdout.split()[1]
    refused = exeunt("keys", "retire", "--", new_kid, cwd=tmp_path)  # a kid may start with "-"
    assert refused.returncode == 2 and "no key would sign" in refused.stderr


def test_json_logs_carry_request_ids_and_no_secrets(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_DATABASE_URL": database_url, "EXEUNT_ISSUER": issuer, "EXEUNT_LOG_FORMAT": "json"}
    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_healthy(issuer)
        httpx.get(
            issuer + "/authorize",
            params={"client_id": "x", "id_token_hint": "secret-hint-value"},
            headers={"X-Request-ID": "req-42"},
        )
    finally:
        assert server.terminate() == 0
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    hit = [entry for entry in lines if entry.get("request_id") == "req-42"]
    assert hit and hit[0]["message"].startswith("GET /authorize 400")
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in lines)
    assert "secret-hint-value" not in server.output()


def test_behind_a_tls_proxy_cookies_are_secure_and_urls_https(tmp_path: Path) -> None:
    port = free_port()
    issuer = "https://login.example.test"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_TRUSTED_PROXIES": "127.0.0.1", "EXEUNT_LOG_FORMAT": "json"}
    local = f"http://127.0.0.1:{port}"
    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve.log")
    try:
        server.wait_healthy(local)
        host = {"Host": "login.example.test"}  # the proxy passes the public host on
        meta = httpx.get(local + "/.well-known/openid-configuration", headers=host).json()
        assert all(meta[k].startswith("https://login.example.test/") for k in meta if k.endswith("_endpoint"))
        proxied = {**host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        login = httpx.get(local + "/login", headers=proxied)
        assert "Secure" in login.headers["set-cookie"]
        forged = httpx.get(local + "/logout/", headers={**proxied, "Host": "evil.example"})
        assert forged.status_code == 400 and "location" not in forged.headers
    finally:
        assert server.terminate() == 0
    assert "GET /login 200" in server.output() and "client=203.0.113.9" in server.output()


def test_signing_keys_can_come_from_pem_files(tmp_path: Path, sqlite_url: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from exeunt.tokens.keys import private_pem, public_jwk

    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "signing.pem"
    pem.write_text(private_pem(key))
    idp = Idp(sqlite_url, EXEUNT_SIGNING_KEY_FILES=str(pem), EXEUNT_SIGNING_ALG="ES256").start()
    try:
        assert [k["kid"] for k in idp.jwks()["keys"]] == [public_jwk(key)["kid"]]
        idp.add_user("alice")
        secret = idp.add_client("notes", ["http://localhost:9/cb"])
        browser = Browser(idp)
        rp = Rp("notes", "http://localhost:9/cb", secret)
        token = exchange(idp, rp, browser.sign_in(rp)).json()["id_token"]
        assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": public_jwk(key)["kid"], "typ": "JWT"}
        verify_id_token(idp, token, "notes")
        browser.close()
    finally:
        idp.stop()


def test_an_operators_change_is_seen_by_every_process_within_a_second(database_url: str, idp: Idp) -> None:
    """Each instance caches client registrations and keys; a client disabled and a key rotated
    through one instance are seen by another on the same database once its clock has moved a second."""
    other = Idp(database_url).start()
    try:
        idp.add_client("notes", ["http://localhost:9/cb"])
        query = {"client_id": "notes", "redirect_uri": "http://localhost:9/cb", "response_type": "code"}
        authorize = other.url("/authorize?" + urlencode({**query, "scope": "openid", "state": "s"}))
        assert httpx.get(authorize).status_code == 200  # the sign-in page: "notes" is cached there now
        kids_before = {k["kid"] for k in other.jwks()["keys"]}

        idp.call(applications.set_disabled(idp.provider.db, "notes", True))
        [record] = idp.call(
            key_operations.rotate_keys(
                idp.provider.db, idp.config, algs=("RS256",), delay=timedelta(minutes=10), now=idp.clock.now()
            )
        )
        other.travel(max(CLIENT_CACHE_TTL, KEY_RING_TTL) + 0.01)

        refused = httpx.get(authorize)
        assert refused.status_code == 400, refused.text[:300]
        assert {k["kid"] for k in other.jwks()["keys"]} == kids_before | {record.kid}
    finally:
        other.stop()
