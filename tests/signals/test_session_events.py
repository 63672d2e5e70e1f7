"""Every way a session ends reaches Shared Signals receivers as CAEP session-revoked, exactly once,
pushed and polled, with the initiating entity of the README's table and the same ``txn`` as the
logout token of the same end; a password change also sends credential-change.  SQLite and
PostgreSQL; the receiver and the back-channel RP are real servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from exeunt.operations import accounts
from tests.support.flows import Browser, Rp, exchange, hidden_fields, query_of, sign_out, verify_id_token
from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import logout_token_of, receiver
from tests.support.ssf_receiver import CREDENTIAL_CHANGE, SESSION_REVOKED, SsfReceiver, register_receiver

ADMIN_TOKEN = "b" * 40


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_SESSION_IDLE_TIMEOUT": "900", "EXEUNT_ADMIN_TOKEN": ADMIN_TOKEN}


@dataclass
class World:
    idp: Idp
    notes: RecordingRp  # an application told by back-channel
    rx: SsfReceiver  # a receiver whose own client alice signed in to
    push: dict[str, Any]
    poll: dict[str, Any]
    laptop: Browser
    claims: dict[str, Any]  # of alice's session on the laptop

    def rp(self, name: str) -> Rp:
        if name == "rx":
            return Rp("rx", "http://127.0.0.1:9/rx/cb", self.rx.secret)
        return Rp(self.notes.client_id, self.notes.redirect_uri, self.notes.secret)


def signed_in(idp: Idp, browser: Browser, world: World | None, rps: list[Rp]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for rp in rps:
        claims = verify_id_token(idp, exchange(idp, rp, browser.sign_in(rp)).json()["id_token"], rp.client_id)
    return claims


@pytest.fixture
def world(idp: Idp, receivers: list[RecordingRp]) -> Iterator[World]:
    idp.add_user("alice", email="alice@example.org")
    notes = receiver(idp, receivers, "notes")
    rx = register_receiver(idp, "rx")
    push = rx.create_push()
    poll = rx.create_poll(subject_format="complex")
    laptop = Browser(idp)
    w = World(idp, notes, rx, push, poll, laptop, {})
    w.claims = signed_in(idp, laptop, w, [w.rp("notes"), w.rp("rx")])
    yield w
    laptop.close()
    rx.stop()


def _sign_out(w: World) -> None:
    sign_out(w.laptop)


def _rp_initiated(w: World) -> None:
    sign_out(w.laptop, client_id="notes", post_logout_redirect_uri=w.notes.base + "/bye")


def _replaced(w: World) -> None:
    page = w.laptop.authorize(w.rp("notes"), prompt="login", state="again")
    assert w.laptop.submit_login(page).status_code == 303


def _other_device(w: World) -> None:
    phone = Browser(w.idp)
    signed_in(w.idp, phone, None, [w.rp("notes")])
    page = phone.http.get(w.idp.url("/account/sessions"))
    answer = phone.http.post(
        w.idp.url("/account/sessions/end-others"),
        data={"csrf": hidden_fields(page.text)["csrf"]},
        headers={"Origin": w.idp.issuer},
    )
    assert answer.status_code == 303
    phone.close()


def _password_changed(w: World) -> None:
    phone = Browser(w.idp)
    signed_in(w.idp, phone, None, [w.rp("notes")])
    form = hidden_fields(phone.http.get(w.idp.url("/account/password")).text)
    answer = phone.http.post(
        w.idp.url("/account/password"),
        data={**form, "current": PASSWORD, "new": "a new long one", "again": "a new long one"},
        headers={"Origin": w.idp.issuer},
    )
    assert answer.status_code == 200
    phone.close()


def _expired(w: World) -> None:
    w.idp.travel(w.idp.config.session_lifetime + 1)


def _idle(w: World) -> None:
    w.idp.travel(901)


def _admin(w: World) -> None:
    answer = httpx.delete(
        w.idp.url(f"/admin/sessions/{w.claims['sid']}"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert answer.status_code == 200


def _user_removed(w: World) -> None:
    w.idp.call(accounts.disable_user(w.idp.provider.runtime, "alice"))


def _revoked(w: World) -> None:
    answer = w.rx.call(
        "POST",
        w.idp.url("/global-token-revocation"),
        json={"sub_id": {"format": "iss_sub", "iss": w.idp.issuer, "sub": w.claims["sub"]}},
        token=w.rx.token("global_token_revocation", keep=False),
    )
    assert answer.status_code == 204, answer.text


ENDINGS: list[tuple[str, Callable[[World], None], str]] = [
    ("user", _sign_out, "user"),
    ("rp_initiated", _rp_initiated, "user"),
    ("replaced", _replaced, "user"),
    ("other_device", _other_device, "user"),
    ("password_changed", _password_changed, "user"),
    ("expired", _expired, "policy"),
    ("idle", _idle, "policy"),
    ("admin", _admin, "admin"),
    ("user_removed", _user_removed, "admin"),
    ("revoked", _revoked, "system"),
]


def revoked_for(sets: list[dict[str, Any]], sid: str, *, complex_subject: bool) -> list[dict[str, Any]]:
    found = [s for s in sets if SESSION_REVOKED in s["events"]]
    if complex_subject:
        return [s for s in found if s["sub_id"].get("session", {}).get("id") == sid]
    return found


@pytest.mark.parametrize(("reason", "end", "entity"), ENDINGS, ids=[e[0] for e in ENDINGS])
def test_every_way_a_session_ends_reaches_push_and_poll_streams_once(
    world: World, reason: str, end: Callable[[World], None], entity: str
) -> None:
    w = world
    end(w)
    [event] = w.notes.wait_for("backchannel", timeout=15)
    _, logout_token = logout_token_of(w.idp, event.data["body"], "notes")
    assert logout_token["sid"] == w.claims["sid"] and logout_token["exeunt_reason"] == reason
    w.rx.wait_pushed(1, kind=SESSION_REVOKED)
    w.idp.travel(600)  # past every retry delay: still exactly one of each
    w.idp.settle()
    w.rx.token()  # the provider's clock moved past the receiver's token (an hour at most)
    pushed = [s for s in w.rx.pushed() if SESSION_REVOKED in s["events"]]
    polled = w.rx.poll_all(w.poll)
    assert len(pushed) == 1, pushed
    [pushed_set] = pushed
    [polled_set] = revoked_for(polled, w.claims["sid"], complex_subject=True)
    assert pushed_set["sub_id"] == {"format": "iss_sub", "iss": w.idp.issuer, "sub": w.claims["sub"]}
    assert polled_set["sub_id"]["user"] == pushed_set["sub_id"]
    for sent in (pushed_set, polled_set):
        caep = sent["events"][SESSION_REVOKED]
        assert caep["initiating_entity"] == entity
        assert caep["reason_admin"]["en"] and caep["reason_user"]["en"]
        assert abs(caep["event_timestamp"] - sent["iat"]) <= 1
        assert sent["txn"] == logout_token["txn"]  # one session end: one txn, for every system told
        assert sent["aud"] == "rx"
    assert pushed_set["jti"] != polled_set["jti"]
    if reason != "replaced":  # (a replaced session's browser has the new one)
        refused = w.laptop.authorize(w.rp("notes"), prompt="none", state="p")
        assert query_of(refused.headers["location"]).get("error") == "login_required"


def test_a_password_change_sends_credential_change_with_the_txn_of_its_sign_outs(world: World) -> None:
    w = world
    w.idp.call(accounts.set_password(w.idp.provider.runtime, "alice", "set by an operator"))
    w.idp.settle()
    [change] = w.rx.wait_pushed(1, kind=CREDENTIAL_CHANGE)
    [revoked] = w.rx.wait_pushed(1, kind=SESSION_REVOKED)
    assert change["events"][CREDENTIAL_CHANGE]["credential_type"] == "password"
    assert change["events"][CREDENTIAL_CHANGE]["change_type"] == "update"
    assert change["events"][CREDENTIAL_CHANGE]["initiating_entity"] == "admin"
    assert change["events"][CREDENTIAL_CHANGE]["reason_admin"]["en"]
    assert revoked["events"][SESSION_REVOKED]["initiating_entity"] == "admin"
    assert change["txn"] == revoked["txn"]  # one cause
    polled = w.rx.poll_all(w.poll)
    assert [CREDENTIAL_CHANGE in s["events"] for s in polled].count(True) == 1


def test_the_persons_own_password_change_is_initiated_by_the_user(world: World) -> None:
    w = world
    _password_changed(w)
    w.idp.settle()
    [change] = w.rx.wait_pushed(1, kind=CREDENTIAL_CHANGE)
    [revoked] = w.rx.wait_pushed(1, kind=SESSION_REVOKED)
    assert change["events"][CREDENTIAL_CHANGE]["initiating_entity"] == "user"
    assert revoked["events"][SESSION_REVOKED]["initiating_entity"] == "user"
    assert change["txn"] == revoked["txn"]


def test_an_email_stream_names_the_person_by_email(world: World) -> None:
    w = world
    email_stream = w.rx.create_poll(subject_format="email")
    _sign_out(w)
    w.idp.settle()
    [revoked] = revoked_for(w.rx.poll_all(email_stream), w.claims["sid"], complex_subject=False)
    assert revoked["sub_id"] == {"format": "email", "email": "alice@example.org"}
