"""A receiver written to the CAEP Interoperability Profile discovers exeunt, authorizes itself with
a client-credentials token, creates push and poll streams, verifies them, reads and changes them.
SQLite and PostgreSQL; the receiver is a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.idp import Idp
from tests.support.ssf_receiver import POLL, PUSH, SESSION_REVOKED, VERIFICATION, SsfReceiver, register_receiver


@pytest.fixture
def rx(idp: Idp) -> Iterator[SsfReceiver]:
    receiver = register_receiver(idp, "rx")
    yield receiver
    receiver.stop()


def test_the_transmitter_configuration_is_what_the_interop_profile_asks(idp: Idp, rx: SsfReceiver) -> None:
    config = rx.config
    assert config["spec_version"] == "1_0" and config["issuer"] == idp.issuer
    assert config["jwks_uri"] == idp.url("/jwks")
    assert set(config["delivery_methods_supported"]) == {PUSH, POLL}
    for name in ("configuration_endpoint", "status_endpoint", "verification_endpoint"):
        assert config[name].startswith(idp.issuer)
    assert {"spec_urn": "urn:ietf:rfc:6749"} in config["authorization_schemes"]
    assert config["default_subjects"] == "ALL"
    discovery = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    assert "client_credentials" in discovery["grant_types_supported"]
    assert discovery["global_token_revocation_endpoint"] == idp.url("/global-token-revocation")


def test_push_and_poll_streams_are_created_read_verified_and_deleted(idp: Idp, rx: SsfReceiver) -> None:
    push = rx.create_push(events_requested=[SESSION_REVOKED, "urn:example:unknown"], description="for <b>tests</b>")
    assert push["iss"] == idp.issuer and push["aud"] == "rx"
    assert push["delivery"] == {"method": PUSH, "endpoint_url": rx.base + "/events"}
    assert push["events_delivered"] == [SESSION_REVOKED]  # what it asked for, of what exeunt sends
    assert push["events_requested"] == [SESSION_REVOKED, "urn:example:unknown"]
    poll = rx.create_poll()
    assert poll["delivery"]["method"] == POLL
    assert poll["delivery"]["endpoint_url"] == idp.url(f"/ssf/poll/{poll['stream_id']}")
    listed = rx.call("GET", rx.config["configuration_endpoint"]).json()
    assert {s["stream_id"] for s in listed} == {push["stream_id"], poll["stream_id"]}
    one = rx.call("GET", rx.config["configuration_endpoint"], params={"stream_id": push["stream_id"]})
    assert one.status_code == 200 and one.json() == push and one.headers["cache-control"] == "no-store"
    # Verification, pushed and polled (SSF §8.1.4), with the state echoed and the stream as subject.
    for stream in (push, poll):
        asked = rx.call(
            "POST", rx.config["verification_endpoint"], json={"stream_id": stream["stream_id"], "state": "s1"}
        )
        assert asked.status_code == 204
    idp.settle()
    [pushed] = rx.wait_pushed(1)
    assert pushed["events"] == {VERIFICATION: {"state": "s1"}}
    assert pushed["sub_id"] == {"format": "opaque", "id": push["stream_id"]}
    [polled] = rx.poll_all(poll)
    assert polled["events"] == {VERIFICATION: {"state": "s1"}} and polled["sub_id"]["id"] == poll["stream_id"]
    assert rx.poll_all(poll) == []  # acknowledged: not served again
    too_soon = rx.call("POST", rx.config["verification_endpoint"], json={"stream_id": push["stream_id"]})
    assert too_soon.status_code == 429 and int(too_soon.headers["retry-after"]) > 0
    status = rx.call("GET", rx.config["status_endpoint"], params={"stream_id": push["stream_id"]})
    assert status.json() == {"stream_id": push["stream_id"], "status": "enabled"}
    gone = rx.call("DELETE", rx.config["configuration_endpoint"], params={"stream_id": push["stream_id"]})
    assert gone.status_code == 204
    assert (
        rx.call("GET", rx.config["configuration_endpoint"], params={"stream_id": push["stream_id"]}).status_code == 404
    )


def test_update_changes_what_is_sent_and_replace_deletes_what_is_not(idp: Idp, rx: SsfReceiver) -> None:
    stream = rx.create_push(description="first", events_requested=[SESSION_REVOKED])
    endpoint = rx.config["configuration_endpoint"]
    patched = rx.call("PATCH", endpoint, json={"stream_id": stream["stream_id"], "description": "second"}).json()
    assert patched["description"] == "second" and patched["delivery"] == stream["delivery"]
    assert patched["events_delivered"] == [SESSION_REVOKED]
    wrong = rx.call("PATCH", endpoint, json={"stream_id": stream["stream_id"], "aud": "someone-else"})
    assert wrong.status_code == 400 and "aud" in wrong.json()["error_description"]
    stale = rx.call("PATCH", endpoint, json={"stream_id": stream["stream_id"], "events_delivered": []})
    assert stale.status_code == 400
    replaced = rx.call("PUT", endpoint, json={"stream_id": stream["stream_id"], "delivery": {"method": POLL}}).json()
    assert "description" not in replaced and "events_requested" not in replaced
    assert replaced["delivery"]["method"] == POLL and len(replaced["events_delivered"]) == 2
