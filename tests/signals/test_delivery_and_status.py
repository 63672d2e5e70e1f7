"""Who hears what, and how events travel: a receiver hears only of its own client's people (an
all-subjects receiver of everyone); a paused stream holds events and sends them once enabled; a
disabled one keeps none; an operator's change of status is told by stream-updated; a receiver's
400 is final and recorded, a 500 retried; a hanging receiver never delays a logout token.
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from exeunt.operations import streams as stream_operations
from tests.support.flows import Browser, Rp, exchange, sign_out
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import receiver
from tests.support.ssf_receiver import SESSION_REVOKED, STREAM_UPDATED, SsfReceiver, register_receiver


@pytest.fixture
def rx(idp: Idp) -> Iterator[SsfReceiver]:
    receiver_ = register_receiver(idp, "rx")
    yield receiver_
    receiver_.stop()


OPEN: list[Browser] = []


@pytest.fixture(autouse=True)
def _close_browsers() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def sign_in(idp: Idp, username: str, *rps: Rp) -> Browser:
    browser = Browser(idp)
    OPEN.append(browser)
    for rp in rps:
        exchange(idp, rp, browser.sign_in(rp, username=username))
    return browser


def rx_rp(rx: SsfReceiver) -> Rp:
    return Rp(rx.client_id, f"http://127.0.0.1:9/{rx.client_id}/cb", rx.secret)


def test_a_receiver_never_hears_of_a_person_who_never_used_its_client(
    idp: Idp, rx: SsfReceiver, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    idp.add_user("bob")
    notes = receiver(idp, receivers, "notes")
    notes_rp = Rp("notes", notes.redirect_uri, notes.secret)
    tool = register_receiver(idp, "tool", all_subjects=True, redirect=False)
    try:
        rx.create_push()
        tool_stream = tool.create_poll()
        alice = sign_in(idp, "alice", notes_rp, rx_rp(rx))
        bob = sign_in(idp, "bob", notes_rp)  # bob never used rx
        sign_out(bob)
        sign_out(alice)
        notes.wait_for("backchannel", count=2)
        idp.settle()
        [heard] = rx.wait_pushed(1, kind=SESSION_REVOKED)
        time.sleep(0.2)  # a second one would have arrived by now (the worker is settled)
        assert len(rx.pushed()) == 1
        subs = {s["sub_id"]["sub"] for s in tool.poll_all(tool_stream)}  # a security tool hears everyone
        assert len(subs) == 2 and heard["sub_id"]["sub"] in subs
    finally:
        tool.stop()


def test_a_paused_stream_holds_events_until_it_is_enabled(idp: Idp, rx: SsfReceiver) -> None:
    idp.add_user("alice")
    push, poll = rx.create_push(), rx.create_poll()
    for stream in (push, poll):
        assert rx.set_status(stream, "paused").json()["status"] == "paused"
    alice = sign_in(idp, "alice", rx_rp(rx))
    sign_out(alice)
    idp.travel(60)
    idp.settle()
    assert rx.pushed() == [] and rx.poll_all(poll) == []  # held, not sent or served
    held = idp.call(stream_operations.listing(idp.provider.runtime, client_id="rx"))
    assert sorted(s.counts["held"] for s in held) == [1, 1]
    for stream in (push, poll):
        assert rx.set_status(stream, "enabled").json()["status"] == "enabled"
    idp.settle()
    [pushed] = rx.wait_pushed(1, kind=SESSION_REVOKED)
    [polled] = rx.poll_all(poll)
    assert pushed["txn"] == polled["txn"] and SESSION_REVOKED in polled["events"]


def test_a_disabled_stream_keeps_nothing_and_an_operator_change_is_told(idp: Idp, rx: SsfReceiver) -> None:
    idp.add_user("alice")
    push = rx.create_push()
    alice = sign_in(idp, "alice", rx_rp(rx))
    runtime = idp.provider.runtime
    stream = idp.call(stream_operations.find(runtime, push["stream_id"]))
    idp.call(stream_operations.set_status(runtime, stream, "disabled", "maintenance", by_operator=True))
    sign_out(alice)
    idp.settle()
    [told] = rx.wait_pushed(1, kind=STREAM_UPDATED)  # SSF §8.1.5: before the stream stops
    assert told["events"][STREAM_UPDATED] == {"status": "disabled", "reason": "maintenance"}
    assert told["sub_id"] == {"format": "opaque", "id": push["stream_id"]}
    assert [s for s in rx.pushed() if SESSION_REVOKED in s["events"]] == []
    status = rx.call("GET", rx.config["status_endpoint"], params={"stream_id": push["stream_id"]}).json()
    assert status == {"stream_id": push["stream_id"], "status": "disabled", "reason": "maintenance"}
    stream = idp.call(stream_operations.find(runtime, push["stream_id"]))
    idp.call(stream_operations.set_status(runtime, stream, "enabled", None, by_operator=True))
    idp.settle()
    rx.wait_pushed(2, kind=STREAM_UPDATED)  # and again upon re-enabling


def test_a_receivers_400_is_final_and_a_500_is_retried(idp: Idp, rx: SsfReceiver) -> None:
    idp.add_user("alice")
    rx.create_push()
    rx.state.mode = "400"
    sign_out(sign_in(idp, "alice", rx_rp(rx)))
    idp.settle()
    idp.travel(600)
    idp.settle()
    assert len(rx.state.pushed) == 1  # RFC 8935 §2.3: a 400 with err is not retried
    [event] = idp.call(stream_operations.events(idp.provider.runtime, given_up=True))
    assert "invalid_key" in (event.last_error or "") and event.last_status == 400
    rx.state.mode = "500"
    sign_out(sign_in(idp, "alice", rx_rp(rx)))
    rx.wait_pushed(2)
    rx.state.mode = "202"
    idp.travel(30)
    idp.settle()
    rx.wait_pushed(3)  # the retry arrived


def test_a_hanging_receiver_never_delays_a_logout_token(
    idp: Idp, rx: SsfReceiver, receivers: list[RecordingRp]
) -> None:
    idp.add_user("alice")
    notes = receiver(idp, receivers, "notes")
    for _ in range(3):
        rx.create_push()
    rx.state.mode = "hang"
    browsers = [sign_in(idp, "alice", Rp("notes", notes.redirect_uri, notes.secret), rx_rp(rx)) for _ in range(5)]
    started = time.monotonic()
    for b in browsers:
        sign_out(b)
    notes.wait_for("backchannel", count=5, timeout=5)  # all five logout tokens, while every SET hangs
    assert time.monotonic() - started < 5
    assert len(rx.state.pushed) >= 1
