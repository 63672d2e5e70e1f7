"""Client registration rules (FCL §2, BCL §2.2, RIL §3.1): checked without a server or a database."""

from __future__ import annotations

from typing import Any

import pytest

from exeunt.protocol.registration import RegistrationError, build_client, check_chosen_secret

CB = "http://localhost:3000/cb"


@pytest.mark.parametrize(
    "metadata, complaint",
    [
        ({"redirect_uris": ["http://localhost:3000/cb#frag"]}, "fragment"),
        ({"redirect_uris": ["/relative"]}, "absolute"),
        ({"redirect_uris": ["http://example.com/cb"]}, "https"),
        ({"redirect_uris": []}, "at least one redirect URI"),
        ({"frontchannel_logout_uri": "http://localhost:4000/fc"}, "scheme, host and port"),
        ({"frontchannel_logout_session_required": True}, "needs a frontchannel_logout_uri"),
        ({"backchannel_logout_uri": "http://localhost:3000/bc#x"}, "fragment"),
        ({"backchannel_logout_uri": "ftp://localhost/bc"}, "must be an https URI"),
        ({"backchannel_logout_uri": "com.example.app:/bc"}, "must be an https URI"),  # native schemes: redirects only
        ({"redirect_uris": ["http://localhost:99999/cb"]}, "Port out of range"),
        ({"redirect_uris": ["http://localhost:0/cb"]}, "port outside"),
        ({"redirect_uris": ["https://rp.example;evil/cb"]}, "invalid host name"),
        ({"redirect_uris": ["https://rp.example\\evil/cb"]}, "backslash"),
        ({"redirect_uris": ["http://[::1/cb"]}, "not a valid URI"),
        ({"redirect_uris": ["https://[zz::1]/cb"]}, "not a valid URI"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "javascript: scheme"),
        ({"redirect_uris": ["data:text/html,x"]}, "data: scheme"),
        ({"redirect_uris": ["vbscript:x"]}, "vbscript: scheme"),
        ({"redirect_uris": ["file:///etc/passwd"]}, "file: scheme"),
        ({"redirect_uris": ["myapp:/cb"]}, "private-use scheme"),
        ({"redirect_uris": ["https://user:pw@rp.example/cb"]}, "user name"),
        ({"redirect_uris": ["https://rp.example:/cb"]}, "empty port"),
        ({"redirect_uris": ["https://rp.example/" + "a" * 2000]}, "1 to 2000 characters"),
        ({"redirect_uris": ["https://rp.example/\x00"]}, "control characters"),
        ({"redirect_uris": ["https://bücher.example/cb"]}, "ASCII"),
        ({"redirect_uris": [f"https://rp.example/{i}" for i in range(51)]}, "at most 50"),
        ({"name": "n" * 201}, "client name"),
        ({"name": "a\nb"}, "client name"),
        ({"post_logout_redirect_uris": ["bye"]}, "absolute"),
        ({"backchannel_logout_session_required": True}, "needs a backchannel_logout_uri"),
        ({"id_token_signed_response_alg": "HS256"}, "RS256 or ES256"),
        ({"client_id": "has space"}, "client_id"),
        ({"client_id": ""}, "client_id"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
    ],
)
def test_a_rule_broken_is_refused_naming_the_field(metadata: dict[str, Any], complaint: str) -> None:
    fields: dict[str, Any] = {"client_id": "c", "name": None, "redirect_uris": [CB], **metadata}
    with pytest.raises(RegistrationError, match=complaint):
        build_client(**fields)


def test_a_valid_registration_keeps_every_field_and_drops_duplicates() -> None:
    client = build_client(
        client_id="notes",
        name=None,
        redirect_uris=[CB, CB],
        frontchannel_logout_uri="http://localhost:3000/fc",
        frontchannel_logout_session_required=True,
        backchannel_logout_uri="https://rp.example/bc",
    )
    assert client.redirect_uris == [CB] and client.name == "notes"
    assert client.token_endpoint_auth_method == "client_secret_basic" and not client.is_public
    assert client.redirect_origins == frozenset({"http://localhost:3000"})


def test_native_apps_may_use_private_use_schemes_and_loopback_redirects() -> None:
    client = build_client(
        client_id="app",
        name=None,
        redirect_uris=["com.example.app:/oauth2redirect", "http://127.0.0.1:51004/cb", "http://[::1]:8080/cb"],
        public=True,
    )
    assert len(client.redirect_uris) == 3


def test_a_public_client_authenticates_with_none_and_keeps_no_secret() -> None:
    client = build_client(client_id="spa", name="SPA", redirect_uris=[CB], public=True, secret_hash="x")
    assert client.is_public and client.secret_hash is None


def test_a_chosen_secret_must_be_long() -> None:
    with pytest.raises(RegistrationError, match="32 characters"):
        check_chosen_secret("short")
    check_chosen_secret("x" * 32)
