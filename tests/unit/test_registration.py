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
        ({"backchannel_logout_uri": "ftp://localhost/bc"}, "http or https"),
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


def test_a_public_client_authenticates_with_none_and_keeps_no_secret() -> None:
    client = build_client(client_id="spa", name="SPA", redirect_uris=[CB], public=True, secret_hash="x")
    assert client.is_public and client.secret_hash is None


def test_a_chosen_secret_must_be_long() -> None:
    with pytest.raises(RegistrationError, match="32 characters"):
        check_chosen_secret("short")
    check_chosen_secret("x" * 32)
