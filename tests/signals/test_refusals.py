"""Every bad call to the Shared Signals API gets a JSON error with the right status and never a
500: 400 malformed, 401 no or bad token (never one in the query), 403 wrong scope or another
receiver's stream, 404 unknown stream, 409 too many streams, 429 verification too often; a push
endpoint that is not https off loopback is refused, and with private addresses not allowed the
SET is not sent to one.  The client-credentials grant refuses what was not granted."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest

from exeunt.errors import RegistrationError
from exeunt.operations import streams as stream_operations
from exeunt.protocol.registration import build_client
from tests.support.flows import Browser, Rp, exchange, sign_out
from tests.support.idp import Idp
from tests.support.ssf_receiver import PUSH, SsfReceiver, register_receiver
from tests.support.waiting import wait_until


@pytest.fixture
def rx(idp: Idp) -> Iterator[SsfReceiver]:
    receiver = register_receiver(idp, "rx")
    yield receiver
    receiver.stop()


def test_tokens_and_scopes(idp: Idp, rx: SsfReceiver) -> None:
    endpoint = rx.config["configuration_endpoint"]
    missing = httpx.get(endpoint)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    in_query = httpx.get(endpoint, params={"access_token": rx.access_token})
    assert in_query.status_code == 401  # CAEP interop §2.6.3: never from the query
    assert rx.call("GET", endpoint, token="not-a-token").json()["error"] == "invalid_token"
    reader = rx.token("ssf.read", keep=False)
    assert rx.call("GET", endpoint, token=reader).status_code == 200
    refused = rx.call("POST", endpoint, token=reader, json={})
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert 'scope="ssf.manage"' in refused.headers["www-authenticate"]
    idp.travel(3601)  # client-credentials tokens live an hour at most
    assert rx.call("GET", endpoint).json()["error"] == "invalid_token"
    # The grant itself: only what an operator granted, only to a client registered for it.
    beyond = httpx.post(
        idp.url("/token"), data={"grant_type": "client_credentials", "scope": "openid"}, auth=("rx", rx.secret)
    )
    assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"
    secret = idp.add_client("plain", ["http://127.0.0.1:9/plain/cb"])
    plain = httpx.post(idp.url("/token"), data={"grant_type": "client_credentials"}, auth=("plain", secret or ""))
    assert plain.status_code == 400 and plain.json()["error"] == "unauthorized_client"
    with pytest.raises(RegistrationError, match="confidential"):
        build_client(client_id="spa", name=None, redirect_uris=["http://127.0.0.1:9/cb"], public=True,
                     grant_types=["authorization_code", "client_credentials"])  # fmt: skip
    with pytest.raises(RegistrationError, match="not one exeunt grants"):
        build_client(client_id="x", name=None, redirect_uris=[], grant_types=["client_credentials"], scopes=["admin"])


def test_another_receivers_stream_and_unknown_ones(idp: Idp, rx: SsfReceiver) -> None:
    other = register_receiver(idp, "other", redirect=False)
    try:
        theirs = other.create_poll()
        endpoint = rx.config["configuration_endpoint"]
        for method, kw in (
            ("GET", {"params": {"stream_id": theirs["stream_id"]}}),
            ("DELETE", {"params": {"stream_id": theirs["stream_id"]}}),
            ("PATCH", {"json": {"stream_id": theirs["stream_id"], "description": "mine now"}}),
        ):
            assert rx.call(method, endpoint, **kw).status_code == 403
        assert rx.call("POST", theirs["delivery"]["endpoint_url"], json={}).status_code == 403
        assert (
            rx.call("GET", rx.config["status_endpoint"], params={"stream_id": theirs["stream_id"]}).status_code == 403
        )
        assert rx.call("GET", endpoint, params={"stream_id": "nope"}).status_code == 404
        assert rx.call("POST", idp.url("/ssf/poll/nope"), json={}).status_code == 404
        assert rx.call("DELETE", endpoint).status_code == 400  # stream_id is required
        assert rx.call("GET", endpoint).json() == []  # its own: none
    finally:
        other.stop()


@pytest.mark.parametrize(
    "body",
    [
        {"delivery": {"method": PUSH}},  # push needs an endpoint_url
        {"delivery": {"method": PUSH, "endpoint_url": "http://example.com/events"}},  # http off loopback
        {"delivery": {"method": PUSH, "endpoint_url": "javascript:alert(1)"}},
        {"delivery": {"method": PUSH, "endpoint_url": "https://x.example/e#frag"}},
        {"delivery": {"method": PUSH, "endpoint_url": "https://x.example/e", "authorization_header": "a\r\nb: c"}},
        {"delivery": {"method": "urn:example:carrier-pigeon"}},
        {"delivery": "push"},
        {"events_requested": "all"},
        {"events_requested": ["x" * 300]},
        {"description": "d" * 501},
        {"description": "line\nbreak"},
        {"subject_format": "phone_number"},
        [],
    ],
)
def test_a_bad_stream_is_a_400_naming_the_field(idp: Idp, rx: SsfReceiver, body: object) -> None:
    answer = rx.call("POST", rx.config["configuration_endpoint"], json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.text


def test_limits_and_garbage(idp: Idp, rx: SsfReceiver) -> None:
    endpoint = rx.config["configuration_endpoint"]
    streams = [rx.create_poll() for _ in range(stream_operations.MAX_STREAMS_PER_RECEIVER)]
    assert rx.call("POST", endpoint, json={}).status_code == 409
    poll_url = streams[0]["delivery"]["endpoint_url"]
    for body in ({"maxEvents": -1}, {"maxEvents": 10_000}, {"returnImmediately": "yes"}, {"ack": "x"},
                 {"setErrs": {"jti": "err"}}, [1, 2]):  # fmt: skip
        assert rx.call("POST", poll_url, json=body).status_code == 400, body
    for status in ({"stream_id": streams[0]["stream_id"], "status": "sleeping"}, {"status": "paused"}):
        assert rx.call("POST", rx.config["status_endpoint"], json=status).status_code == 400
    rng = random.Random(7)
    alphabet = ["{", "}", "[", "]", '"', ":", ",", "null", "1e999", "-", "stream_id", "delivery", "\\u0000", " "]
    paths = [endpoint, rx.config["status_endpoint"], rx.config["verification_endpoint"], poll_url]
    for _ in range(60):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        method = rng.choice(["POST", "PATCH", "PUT"]) if rng.random() < 0.5 else "POST"
        answer = rx.call(method, rng.choice(paths), content=body.encode(), headers={"Content-Type": "application/json"})
        assert answer.status_code < 500, (body, answer.text)
        json.loads(answer.text or "{}")


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_BACKCHANNEL_ALLOW_PRIVATE": "false"}])
def test_a_private_push_endpoint_is_never_sent_to_when_private_addresses_are_not_allowed(
    idp_sqlite: Idp,
) -> None:
    idp = idp_sqlite
    rx = register_receiver(idp, "rx")
    browser = Browser(idp)
    try:
        idp.add_user("alice")
        rx.create_push()
        rp = Rp("rx", "http://127.0.0.1:9/rx/cb", rx.secret)
        exchange(idp, rp, browser.sign_in(rp))
        sign_out(browser)
        idp.settle()
        assert rx.state.pushed == []
        # Refused before connecting, so given up at its first attempt (polled: the job's turn may come later).
        [event] = wait_until(
            lambda: idp.call(stream_operations.events(idp.provider.runtime, given_up=True)),
            timeout=10,
            what="the push event to be given up",
        )
        assert "not sent" in (event.last_error or "")
    finally:
        browser.close()
        rx.stop()


def test_a_client_credentials_token_is_introspected_revoked_and_its_streams_go_with_its_client(
    idp: Idp, rx: SsfReceiver
) -> None:
    token = rx.token(keep=False)
    seen = httpx.post(idp.url("/introspect"), data={"token": token}, auth=("rx", rx.secret)).json()
    assert seen["active"] and seen["client_id"] == "rx" and seen["scope"] == "ssf.manage ssf.read"
    assert "sub" not in seen and "sid" not in seen and seen["exp"] - seen["iat"] <= 3600
    assert httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert httpx.post(idp.url("/revoke"), data={"token": token}, auth=("rx", rx.secret)).status_code == 200
    assert httpx.post(idp.url("/introspect"), data={"token": token}, auth=("rx", rx.secret)).json() == {"active": False}
    assert rx.call("GET", rx.config["configuration_endpoint"], token=token).status_code == 401
    stream = rx.create_poll()
    metrics = httpx.get(idp.url("/metrics")).text
    assert f'exeunt_ssf_stream_events{{state="pending",stream_id="{stream["stream_id"]}"}} 0.0' in metrics
    from exeunt.operations import applications

    idp.call(applications.remove_client(idp.provider.db, "rx"))
    assert idp.call(stream_operations.listing(idp.provider.runtime)) == []
