"""Back-Channel Logout 1.0 (errata set 1) delivered from a durable outbox, to real receivers on
loopback that answer 200, 204, 400, 500, redirect, hang, or refuse connections."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from exeunt.storage import outbox
from exeunt.storage.outbox import DeliveryRecord
from exeunt.tokens.logout_token import BACKCHANNEL_EVENT
from tests.support.flows import Browser, hidden_fields, sign_out
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import logout_token_of, receiver, sign_in_to
from tests.support.waiting import wait_until


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_BACKCHANNEL_TIMEOUT": "2"}


def all_deliveries(idp: Idp) -> list[DeliveryRecord]:
    async def read() -> list[DeliveryRecord]:
        async with idp.provider.db.read() as conn:
            return await outbox.list_deliveries(conn)

    return idp.call(read())


def wait_for_state(idp: Idp, client_id: str, state: str, timeout: float = 15.0) -> DeliveryRecord:
    def reached() -> DeliveryRecord | None:
        return next((r for r in all_deliveries(idp) if r.client_id == client_id and r.state == state), None)

    return wait_until(reached, timeout=timeout, what=f"{client_id}'s delivery to reach {state!r}")


def test_each_client_gets_exactly_one_valid_logout_token_concurrently(
    idp: Idp, browser: Browser, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    rps = [
        receiver(idp, receivers, "notes"),
        receiver(idp, receivers, "billing", mode="204"),
        receiver(idp, receivers, "tasks"),
    ]
    id_claims = sign_in_to(idp, browser, rps)
    sign_out(browser)
    jtis = set()
    arrivals = []
    for rp in rps:
        [event] = rp.wait_for("backchannel")
        arrivals.append(event.at)
        assert event.data["content_type"] == "application/x-www-form-urlencoded"
        header, claims = logout_token_of(idp, event.data["body"], rp.client_id)
        assert header["typ"] == "logout+jwt" and header["kid"] and header["alg"] == "RS256"
        assert claims["iss"] == idp.issuer and claims["aud"] == rp.client_id
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}
        assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
        assert "nonce" not in claims
        assert 0 < claims["exp"] - claims["iat"] <= 120 and abs(claims["iat"] - time.time()) < 60
        jtis.add(claims["jti"])
    assert len(jtis) == 3
    assert max(arrivals) - min(arrivals) < 1.0  # sent side by side, not one after another
    for rp in rps:
        wait_for_state(idp, rp.client_id, "delivered")
    idp.travel(86400)  # a day later, nothing further has arrived: a delivered row is never sent again
    idp.settle()
    assert all(len(rp.events("backchannel")) == 1 for rp in rps)


def test_a_client_that_is_down_gets_its_token_once_it_is_back(
    idp: Idp, browser: Browser, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    down = receiver(idp, receivers, "down", start=False)  # the port refuses connections
    sign_in_to(idp, browser, [down])
    sign_out(browser)
    row = wait_for_state(idp, "down", "retrying")
    assert row.attempts >= 1 and row.last_error
    down.start(idp.issuer, down.secret)
    idp.travel(600)  # past the longest backoff: the retry is due now, not after real seconds
    down.wait_for("backchannel", timeout=20)
    assert wait_for_state(idp, "down", "delivered").attempts >= 2


def test_500_then_200_is_retried_once_and_400_is_never_retried(
    idp: Idp, browser: Browser, receivers: list[RecordingRp], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="exeunt.backchannel")
    idp.add_user("alice")
    flaky = receiver(idp, receivers, "flaky", mode="500-then-200")
    picky = receiver(idp, receivers, "picky", mode="400")
    sign_in_to(idp, browser, [flaky, picky])
    sign_out(browser)
    assert len(flaky.wait_for("backchannel", count=2)) == 2
    delivered = wait_for_state(idp, "flaky", "delivered")
    assert delivered.attempts == 2 and delivered.last_status == 200
    failed = wait_for_state(idp, "picky", "given_up")
    assert failed.attempts == 1 and failed.last_status == 400 and "invalid_request" in (failed.last_error or "")
    idp.travel(86400)  # far past any retry delay: a given-up row stays given up
    idp.settle()
    assert len(picky.events("backchannel")) == 1
    # One structured line per attempt (client, sid, attempt, outcome, latency), never the token.
    lines = [r.getMessage() for r in caplog.records if r.name == "exeunt.backchannel"]
    flaky_lines = [line for line in lines if "client=flaky " in line]
    assert len(flaky_lines) == 2
    assert "attempt=1 outcome=retrying status=500" in flaky_lines[0] and "latency_ms=" in flaky_lines[0]
    assert "attempt=2 outcome=delivered status=200" in flaky_lines[1]
    assert any("client=picky " in line and "outcome=given_up status=400" in line for line in lines)
    token = parse_qs(flaky.events("backchannel")[0].data["body"])["logout_token"][0]
    assert all(token not in line and "eyJ" not in line for line in lines)


def test_a_hanging_client_delays_neither_the_sign_out_nor_the_others(
    idp: Idp, browser: Browser, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    hanging = receiver(idp, receivers, "hanging", mode="hang")
    quick = receiver(idp, receivers, "quick")
    sign_in_to(idp, browser, [hanging, quick])
    page = browser.http.get(idp.url("/logout"))
    started = time.monotonic()
    answer = browser.http.post(
        idp.url("/logout/confirm"), data=hidden_fields(page.text), headers={"Origin": idp.issuer}
    )
    response_time = time.monotonic() - started
    assert answer.status_code == 303
    quick.wait_for("backchannel", timeout=1.5)
    assert response_time < 1.0
    row = wait_for_state(idp, "hanging", "retrying", timeout=10)
    assert "no answer within 2 s" in (row.last_error or "")


def test_redirects_are_not_followed_and_the_registered_query_is_kept(
    idp: Idp, browser: Browser, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    mover = receiver(idp, receivers, "mover", mode="redirect")
    tenant = receiver(idp, receivers, "tenant", query="?tenant=3&x=a%20b")
    sign_in_to(idp, browser, [mover, tenant])
    sign_out(browser)
    [event] = tenant.wait_for("backchannel")
    assert event.data["query"] == {"tenant": "3", "x": "a b"}
    row = wait_for_state(idp, "mover", "retrying")
    assert row.last_status == 302 and "not followed" in (row.last_error or "")
    assert not mover.events("redirect_followed")


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_BACKCHANNEL_ALLOW_PRIVATE": "false"}])
def test_private_addresses_are_refused_when_not_allowed(idp_sqlite: Idp, receivers: list[RecordingRp]) -> None:
    idp = idp_sqlite
    browser = Browser(idp)
    idp.add_user("alice")
    local = receiver(idp, receivers, "local")
    sign_in_to(idp, browser, [local])
    sign_out(browser)
    row = wait_for_state(idp, "local", "given_up")
    assert "loopback or private" in (row.last_error or "")
    assert not local.events("backchannel")
    browser.close()


def test_operator_lists_and_retries_given_up_deliveries(
    idp_sqlite: Idp, receivers: list[RecordingRp], tmp_path: Any
) -> None:
    from tests.support.cli import exeunt

    idp = idp_sqlite
    browser = Browser(idp)
    idp.add_user("alice")
    picky = receiver(idp, receivers, "picky", mode="400")
    sign_in_to(idp, browser, [picky])
    sign_out(browser)
    failed = wait_for_state(idp, "picky", "given_up")
    env = {"EXEUNT_DATABASE_URL": idp.database_url, "EXEUNT_ISSUER": idp.issuer}
    listing = exeunt("deliveries", "--given-up", cwd=tmp_path, env=env)
    assert listing.returncode == 0 and f"{failed.id}\tpicky\tgiven_up\t1" in listing.stdout
    picky.state.mode = "200"
    assert "1 deliveries queued again" in exeunt("deliveries", "retry", "--all-given-up", cwd=tmp_path, env=env).stdout
    assert len(picky.wait_for("backchannel", count=2, timeout=10)) == 2
    assert wait_for_state(idp, "picky", "delivered").attempts == 2
    assert exeunt("deliveries", "retry", "--all-given-up", cwd=tmp_path, env=env).returncode == 2
    browser.close()
    assert httpx.get(idp.url("/healthz")).status_code == 200
