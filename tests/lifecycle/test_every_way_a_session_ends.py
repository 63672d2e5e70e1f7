"""Every way a session ends reaches every application (issue 10): expiry, idle timeout, a request
arriving after a deadline, sign-out of other devices, an operator (CLI and admin API), a removed
user, a changed password.  Each: two RPs with back-channel receivers on loopback get exactly one
valid logout token for the sid (carrying why), the session is refused afterwards (prompt=none ->
login_required), and the reason is recorded.  SQLite and PostgreSQL; time moves, nobody sleeps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from exeunt.storage import outbox
from exeunt.storage import sessions as session_store
from exeunt.tokens.logout_token import BACKCHANNEL_EVENT, REASON_CLAIM
from tests.support.cli import exeunt
from tests.support.flows import Browser, Rp, hidden_fields, query_of
from tests.support.idp import Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import logout_token_of, receiver, sign_in_to

ADMIN_TOKEN = "a" * 40


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_SESSION_IDLE_TIMEOUT": "900", "EXEUNT_ADMIN_TOKEN": ADMIN_TOKEN}


def two_rps(idp: Idp, receivers: list[RecordingRp]) -> list[RecordingRp]:
    return [receiver(idp, receivers, "notes"), receiver(idp, receivers, "billing", mode="204")]


def told_once(idp: Idp, rps: list[RecordingRp], claims: dict[str, Any], reason: str) -> None:
    """Each RP received exactly one valid logout token for this sid, saying why."""
    for rp in rps:
        rp.wait_for("backchannel", timeout=15)
        [header, token] = only_token_for(idp, rp, claims["sid"])
        assert header["typ"] == "logout+jwt"
        assert token["iss"] == idp.issuer and token["aud"] == rp.client_id
        assert token["events"] == {BACKCHANNEL_EVENT: {}} and "nonce" not in token
        assert token["sid"] == claims["sid"] and token["sub"] == claims["sub"]
        assert token[REASON_CLAIM] == reason
    idp.travel(600)  # later, past every retry delay (and within the idle timeout): still exactly one each
    idp.settle()
    for rp in rps:
        only_token_for(idp, rp, claims["sid"])
    assert ended_reason(idp, claims["sid"]) == reason


def only_token_for(idp: Idp, rp: RecordingRp, sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one logout token ``rp`` received for session ``sid`` (other sessions may end too)."""
    tokens = [logout_token_of(idp, e.data["body"], rp.client_id) for e in rp.events("backchannel")]
    mine = [t for t in tokens if t[1]["sid"] == sid]
    assert len(mine) == 1, f"{rp.client_id}: {len(mine)} tokens for the session"
    return mine[0]


def ended_reason(idp: Idp, sid: str) -> str | None:
    async def read() -> tuple[str | None, set[str]]:
        async with idp.provider.db.read() as conn:
            session = await session_store.get(conn, sid)
            rows = await outbox.of_sid(conn, sid)
        assert session is not None
        return session.ended_reason, {r.reason for r in rows}

    reason, row_reasons = idp.call(read())
    assert row_reasons <= {reason}
    return reason


def refused(browser: Browser, rp: RecordingRp) -> bool:
    answer = browser.authorize(Rp(rp.client_id, rp.redirect_uri, rp.secret), prompt="none", state="p")
    return query_of(answer.headers["location"]).get("error") == "login_required"


def signed_in(idp: Idp, receivers: list[RecordingRp], browser: Browser | None = None) -> tuple[Browser, Any, Any]:
    idp.add_user("alice")
    rps = two_rps(idp, receivers)
    browser = browser or Browser(idp)
    return browser, rps, sign_in_to(idp, browser, rps)


# -- the provider ends sessions itself -----------------------------------------------------------------
def test_expiry_ends_the_session_and_tells_every_application(idp: Idp, receivers: list[RecordingRp]) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    idp.travel(idp.config.session_lifetime + 1)  # past the absolute lifetime; the sweeper runs
    told_once(idp, rps, claims, "expired")
    assert refused(browser, rps[0])
    browser.close()


def test_idle_timeout_ends_the_session_and_tells_every_application(idp: Idp, receivers: list[RecordingRp]) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    idp.travel(600)
    assert not refused(browser, rps[0])  # activity: a code served from the session moves last_active
    idp.travel(600)  # 1,200 s since sign-in, 600 since the last activity: still within 900
    ended = [rp.events("backchannel") for rp in rps]
    assert ended == [[], []]
    idp.travel(301)
    told_once(idp, rps, claims, "idle")
    assert refused(browser, rps[0])
    browser.close()


@pytest.mark.parametrize("idp_settings", [{"EXEUNT_SESSION_SWEEP_INTERVAL": "3600"}])
def test_a_request_after_the_deadline_ends_the_session_once(idp: Idp, receivers: list[RecordingRp]) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    idp.clock.advance(idp.config.session_lifetime + 1)  # the sweeper is not due: the request finds it
    assert refused(browser, rps[0])
    assert refused(browser, rps[1])  # the second request finds it ended: nothing more is sent
    told_once(idp, rps, claims, "expired")
    browser.close()


# -- the person, from another device -------------------------------------------------------------------
def _sessions_page(browser: Browser) -> httpx.Response:
    return browser.http.get(browser.idp.url("/account/sessions"))


def test_sign_out_all_other_devices(idp: Idp, receivers: list[RecordingRp]) -> None:
    laptop, rps, claims = signed_in(idp, receivers)
    phone = Browser(idp)
    sign_in_to(idp, phone, rps[:1])
    page = _sessions_page(phone)
    assert page.status_code == 200 and page.text.count("data-session=") == 2 and "this browser" in page.text
    answer = phone.http.post(
        idp.url("/account/sessions/end-others"),
        data={"csrf": hidden_fields(page.text)["csrf"]},
        headers={"Origin": idp.issuer},
    )
    assert answer.status_code == 303
    told_once(idp, rps, claims, "other_device")  # the laptop's session: both its RPs
    assert refused(laptop, rps[0]) and not refused(phone, rps[0])
    assert _sessions_page(phone).text.count("data-session=") == 1
    laptop.close()
    phone.close()


def test_sign_out_one_device_and_only_ones_own(idp: Idp, receivers: list[RecordingRp]) -> None:
    laptop, rps, claims = signed_in(idp, receivers)
    idp.add_user("bob")
    phone, bobs, bobs_other = Browser(idp), Browser(idp), Browser(idp)
    sign_in_to(idp, phone, rps[:1])
    for b in (bobs, bobs_other):  # two sessions: his page has forms, and so a valid token of his
        b.sign_in(Rp(rps[0].client_id, rps[0].redirect_uri, rps[0].secret), username="bob")
    page = _sessions_page(phone).text
    handles = re.findall(r'data-session="([0-9a-f]+)"', page)
    laptop_handle = handles[1]  # the first row is this browser
    # Bob cannot end Alice's laptop, even with its handle and his own valid form token.
    bob_csrf = hidden_fields(_sessions_page(bobs).text)["csrf"]
    theft = bobs.http.post(
        idp.url("/account/sessions/end"),
        data={"csrf": bob_csrf, "session": laptop_handle},
        headers={"Origin": idp.issuer},
    )
    assert theft.status_code == 404 and not refused(laptop, rps[0])
    # A cross-site form cannot end it either.
    forged = phone.http.post(
        idp.url("/account/sessions/end"),
        data={"csrf": hidden_fields(page)["csrf"], "session": laptop_handle},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403 and not refused(laptop, rps[0])
    answer = phone.http.post(
        idp.url("/account/sessions/end"),
        data={"csrf": hidden_fields(page)["csrf"], "session": laptop_handle},
        headers={"Origin": idp.issuer},
    )
    assert answer.status_code == 303
    told_once(idp, rps, claims, "other_device")
    assert refused(laptop, rps[0]) and not refused(phone, rps[0])
    for b in (laptop, phone, bobs, bobs_other):
        b.close()


def test_changing_the_password_signs_out_every_other_device(idp: Idp, receivers: list[RecordingRp]) -> None:
    laptop, rps, claims = signed_in(idp, receivers)
    phone = Browser(idp)
    sign_in_to(idp, phone, rps[:1])
    form = hidden_fields(phone.http.get(idp.url("/account/password")).text)
    wrong = phone.http.post(
        idp.url("/account/password"),
        data={**form, "current": "not it", "new": "a new long one", "again": "a new long one"},
        headers={"Origin": idp.issuer},
    )
    assert wrong.status_code == 400 and not refused(laptop, rps[0])
    changed = phone.http.post(
        idp.url("/account/password"),
        data={**form, "current": "correct horse battery", "new": "a new long one", "again": "a new long one"},
        headers={"Origin": idp.issuer},
    )
    assert changed.status_code == 200 and "1 other device signed out" in changed.text
    told_once(idp, rps, claims, "password_changed")
    assert refused(laptop, rps[0]) and not refused(phone, rps[0])
    fresh = Browser(idp)
    assert fresh.sign_in(Rp(rps[0].client_id, rps[0].redirect_uri, rps[0].secret), password="a new long one").code
    for b in (laptop, phone, fresh):
        b.close()


# -- operators ---------------------------------------------------------------------------------------
def _env(idp: Idp) -> dict[str, str]:
    return {"EXEUNT_DATABASE_URL": idp.database_url, "EXEUNT_ISSUER": idp.issuer}


def test_an_operator_ends_a_session_from_the_command_line(
    idp: Idp, receivers: list[RecordingRp], tmp_path: Path
) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    listing = exeunt("sessions", "list", "--user", "alice", cwd=tmp_path, env=_env(idp))
    assert listing.returncode == 0 and claims["sid"] in listing.stdout and "Notes, Billing" in listing.stdout
    ended = exeunt("sessions", "end", claims["sid"], cwd=tmp_path, env=_env(idp))
    assert ended.returncode == 0 and "1 session ended, 2 back-channel notifications queued" in ended.stdout
    idp.server.loop.call_soon_threadsafe(idp.worker.wake)  # another process wrote the rows (SQLite: no NOTIFY)
    told_once(idp, rps, claims, "admin")
    assert refused(browser, rps[0])
    again = exeunt("sessions", "end", claims["sid"], cwd=tmp_path, env=_env(idp))
    assert again.returncode == 2 and "ended already (admin)" in again.stderr
    shown = exeunt("sessions", "show", claims["sid"], cwd=tmp_path, env=_env(idp))
    assert "state:        admin" in shown.stdout and "notes\tdelivered" in shown.stdout
    unknown = exeunt("sessions", "end", "nosuchsid", cwd=tmp_path, env=_env(idp))
    assert unknown.returncode == 2 and "no session 'nosuchsid'" in unknown.stderr
    nobody = exeunt("sessions", "end", "--user", "alice", cwd=tmp_path, env=_env(idp))
    assert nobody.returncode == 0 and "0 sessions ended, 0 back-channel notifications queued" in nobody.stdout
    browser.close()


def test_removing_a_user_ends_their_sessions_first(idp: Idp, receivers: list[RecordingRp], tmp_path: Path) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    removed = exeunt("users", "remove", "alice", cwd=tmp_path, env=_env(idp))
    assert removed.returncode == 0 and "1 session ended, 2 back-channel notifications queued" in removed.stdout
    idp.server.loop.call_soon_threadsafe(idp.worker.wake)
    for rp in rps:
        [event] = rp.wait_for("backchannel", timeout=15)
        assert logout_token_of(idp, event.data["body"], rp.client_id)[1][REASON_CLAIM] == "user_removed"
    assert refused(browser, rps[0])
    browser.close()


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(
    idp: Idp, receivers: list[RecordingRp], tmp_path: Path
) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    disabled = exeunt("users", "disable", "alice", cwd=tmp_path, env=_env(idp))
    assert disabled.returncode == 0 and "1 session ended" in disabled.stdout
    idp.server.loop.call_soon_threadsafe(idp.worker.wake)
    told_once(idp, rps, claims, "user_removed")
    fresh = Browser(idp)
    page = fresh.authorize(Rp(rps[0].client_id, rps[0].redirect_uri, rps[0].secret), state="s")
    assert fresh.submit_login(page).status_code == 401
    assert exeunt("users", "enable", "alice", cwd=tmp_path, env=_env(idp)).returncode == 0
    assert fresh.submit_login(page).status_code == 303
    browser.close()
    fresh.close()


def _admin(idp: Idp, method: str, path: str, token: str = ADMIN_TOKEN) -> httpx.Response:
    return httpx.request(method, idp.url(path), headers={"Authorization": f"Bearer {token}"})


def test_the_admin_api_ends_sessions_and_reports_their_notifications(idp: Idp, receivers: list[RecordingRp]) -> None:
    browser, rps, claims = signed_in(idp, receivers)
    listed = _admin(idp, "GET", "/admin/users/alice/sessions")
    assert listed.status_code == 200
    [session] = listed.json()["sessions"]
    assert session["sid"] == claims["sid"] and session["applications"] == ["Notes", "Billing"]
    ended = _admin(idp, "DELETE", f"/admin/sessions/{claims['sid']}")
    assert ended.status_code == 200
    body = ended.json()
    assert body["ended"] == 1 and body["notifications"] == 2
    told_once(idp, rps, claims, "admin")
    status = _admin(idp, "GET", body["signouts"][0]["status"]).json()
    assert status["reason"] == "admin" and {d["state"] for d in status["backchannel"]} == {"delivered"}
    assert refused(browser, rps[0])
    assert _admin(idp, "DELETE", f"/admin/sessions/{claims['sid']}").status_code == 409
    assert _admin(idp, "DELETE", "/admin/sessions/unknown").status_code == 404
    assert _admin(idp, "DELETE", "/admin/users/alice/sessions").json()["ended"] == 0
    assert _admin(idp, "GET", "/admin/users/nobody/sessions").status_code == 404
    wrong = _admin(idp, "GET", "/admin/users/alice/sessions", token="b" * 40)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token" and "www-authenticate" in wrong.headers
    browser.close()


@pytest.mark.parametrize("idp_settings", [{}])
def test_the_admin_api_is_off_without_a_token(idp_sqlite: Idp) -> None:
    answer = _admin(idp_sqlite, "GET", "/admin/users/alice/sessions")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
