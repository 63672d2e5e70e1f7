"""A sign-out that is the consequence of another write commits with it, or neither does.

A database trigger makes the *second* write of each pair fail (a real failure of the real
database, not a mock): the password change, the disabled user, the removed user and the new
sign-in that replaces a session must then leave nothing half-done: the old password still works,
every session still lives, nothing was queued for any application.  SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text

from exeunt.operations import accounts
from exeunt.security import verify_password
from exeunt.storage import outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from tests.support.flows import Browser, Rp, hidden_fields, query_of
from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp
from tests.support.sessions import receiver, sign_in_to


@contextmanager
def failing(idp: Idp, table: str, operation: str) -> Iterator[None]:
    """Every ``operation`` (INSERT, UPDATE, DELETE) on ``table`` fails while inside."""

    async def run(*statements: str) -> None:
        async with idp.provider.db.write() as conn:
            for statement in statements:
                await conn.execute(text(statement))

    # A new name each time: a pooled SQLite connection may still have the last one in its cached
    # schema when it prepares the next CREATE (it re-reads the schema only when it runs a statement).
    name = f"exeunt_test_fail_{uuid.uuid4().hex[:8]}"
    if idp.provider.db.is_sqlite:
        create: tuple[str, ...] = (
            f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        drop: tuple[str, ...] = (f"DROP TRIGGER {name}",)
    else:
        create = (
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
        )
        drop = (f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()")
    idp.call(run(*create))
    try:
        yield
    finally:
        idp.call(run(*drop))


def state(idp: Idp, username: str, sids: list[str]) -> tuple[object, list[bool], int]:
    """(the user's row, whether each session lives, outbox rows for them)."""

    async def read() -> tuple[object, list[bool], int]:
        async with idp.provider.db.read() as conn:
            user = await user_store.get_by_username(conn, username)
            sessions = [await session_store.get(conn, sid) for sid in sids]
            queued = sum([len(await outbox.of_sid(conn, sid)) for sid in sids])
        now = idp.clock.now()
        return user, [s is not None and s.is_live(now) for s in sessions], queued

    result: tuple[object, list[bool], int] = idp.call(read())
    return result


@pytest.fixture
def signed_in(idp: Idp, receivers: list[RecordingRp]) -> Iterator[tuple[list[RecordingRp], list[Browser], list[str]]]:
    """alice signed in on two browsers, to an RP with a back-channel receiver."""
    idp.add_user("alice")
    rps = [receiver(idp, receivers, "notes")]
    browsers = [Browser(idp), Browser(idp)]
    sids = [sign_in_to(idp, b, rps)["sid"] for b in browsers]
    yield rps, browsers, sids
    for b in browsers:
        b.close()


def test_a_password_change_that_cannot_sign_out_changes_nothing(
    idp: Idp, signed_in: tuple[list[RecordingRp], list[Browser], list[str]]
) -> None:
    rps, (laptop, phone), sids = signed_in
    form = hidden_fields(phone.http.get(idp.url("/account/password")).text)
    change = {**form, "current": PASSWORD, "new": "a new long one", "again": "a new long one"}
    with failing(idp, "signouts", "INSERT"):  # the password is written first, then this fails
        answer = phone.http.post(idp.url("/account/password"), data=change, headers={"Origin": idp.issuer})
        assert answer.status_code == 500
        with pytest.raises(Exception, match="injected failure"):
            idp.call(accounts.set_password(idp.provider.runtime, "alice", "another long one"))
    user, live, queued = state(idp, "alice", sids)
    assert live == [True, True] and queued == 0
    assert user is not None and verify_password(PASSWORD, user.password_hash)  # type: ignore[attr-defined]
    # Without the failure the same change goes through, and signs the laptop out.
    answer = phone.http.post(idp.url("/account/password"), data=change, headers={"Origin": idp.issuer})
    assert answer.status_code == 200 and "1 other device signed out" in answer.text
    assert state(idp, "alice", sids)[1:] == ([False, True], 1)


def test_disabling_or_removing_a_user_that_cannot_sign_out_changes_nothing(
    idp: Idp, signed_in: tuple[list[RecordingRp], list[Browser], list[str]]
) -> None:
    _, _, sids = signed_in
    runtime = idp.provider.runtime
    # disabled_at is written first, then the sign-outs fail:
    with failing(idp, "signouts", "INSERT"), pytest.raises(Exception, match="injected failure"):
        idp.call(accounts.disable_user(runtime, "alice"))
    # the sessions end first, then removing the user fails:
    with failing(idp, "users", "DELETE"), pytest.raises(Exception, match="injected failure"):
        idp.call(accounts.remove_user_everywhere(runtime, "alice"))
    user, live, queued = state(idp, "alice", sids)
    assert user is not None and user.disabled_at is None  # type: ignore[attr-defined]
    assert live == [True, True] and queued == 0
    ended = idp.call(accounts.disable_user(runtime, "alice"))
    assert len(ended.sessions) == 2 and state(idp, "alice", sids)[1:] == ([False, False], 2)


def test_a_sign_in_that_cannot_begin_leaves_the_session_it_would_replace(
    idp: Idp, signed_in: tuple[list[RecordingRp], list[Browser], list[str]]
) -> None:
    rps, (laptop, _), sids = signed_in
    rp = Rp(rps[0].client_id, rps[0].redirect_uri, rps[0].secret)
    page = laptop.authorize(rp, prompt="login", state="again")  # a fresh sign-in replaces the session
    assert page.status_code == 200
    with failing(idp, "sso_sessions", "INSERT"):  # the old session is ended first, then this fails
        assert laptop.submit_login(page).status_code == 500
    assert state(idp, "alice", sids)[1:] == ([True, True], 0)
    again = laptop.authorize(rp, prompt="none", state="still")
    assert query_of(again.headers["location"]).get("code")  # still signed in, with the old session
    assert laptop.submit_login(page).status_code == 303  # without the failure: replaced, and told
    assert state(idp, "alice", sids)[1:] == ([False, True], 1)


def test_nothing_is_reported_for_a_transaction_that_rolled_back(idp_sqlite: Idp) -> None:
    """The worker is woken and sign-outs counted only after a commit."""
    from exeunt.signout import signing_out

    woken: list[int] = []
    runtime = idp_sqlite.provider.runtime
    unsubscribe = runtime.on_outbox(lambda: woken.append(1))

    async def fail() -> None:
        async with signing_out(runtime) as tx:
            tx.queued = 1
            raise RuntimeError("the caller's own write failed")

    with pytest.raises(RuntimeError):
        asyncio.run_coroutine_threadsafe(fail(), idp_sqlite.server.loop).result(10)
    unsubscribe()
    assert woken == []
    assert httpx.get(idp_sqlite.url("/healthz")).status_code == 200
