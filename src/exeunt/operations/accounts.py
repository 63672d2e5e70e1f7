"""People's accounts: add, list, disable, enable, remove, set a password.  Disabling, removing and a
new password end sessions in the same transaction (``signout.signing_out``)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from exeunt.errors import OperatorError
from exeunt.lifecycle import EndReason
from exeunt.runtime import Runtime
from exeunt.security import hash_password, new_token
from exeunt.seed_file import check_user_fields
from exeunt.signout import Ended, signing_out
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection, Database
from exeunt.storage.users import UserRecord


async def add_user(
    db: Database, username: str, password: str, *, email: str | None, name: str | None, now: datetime
) -> None:
    try:
        check_user_fields(username, password, email, name)
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc
    password_hash = hash_password(password)
    async with db.write() as conn:
        if await user_store.get_by_username(conn, username) is not None:
            raise OperatorError(
                f"user {username!r} exists already; to give them a new password: exeunt users set-password {username}"
            )
        await user_store.add(conn, username=username, password_hash=password_hash, email=email, name=name, now=now)


async def list_users(db: Database) -> list[UserRecord]:
    async with db.read() as conn:
        return await user_store.list_all(conn)


async def remove_user(db: Database, username: str) -> None:
    async with db.write() as conn:
        if not await user_store.remove(conn, username):
            raise OperatorError(f"no user {username!r}")


async def remove_user_everywhere(runtime: Runtime, username: str) -> Ended:
    """End every session of the user (their applications are told) and remove the user, in one
    transaction."""
    async with signing_out(runtime) as tx:
        user = await user_named(tx.conn, username)
        await tx.end_user(user.id, EndReason.USER_REMOVED)
        await user_store.remove(tx.conn, username)
    return Ended(tx.ended)


async def disable_user(runtime: Runtime, username: str) -> Ended:
    """The user can no longer sign in, and every session they have ends now (one transaction)."""
    async with signing_out(runtime) as tx:
        user = await user_named(tx.conn, username)
        await user_store.set_disabled(tx.conn, user.id, tx.now)
        await tx.end_user(user.id, EndReason.USER_REMOVED)
    return Ended(tx.ended)


async def enable_user(db: Database, username: str) -> None:
    async with db.write() as conn:
        await user_store.set_disabled(conn, (await user_named(conn, username)).id, None)


async def set_operator(db: Database, username: str, operator: bool) -> None:
    """Grant (or take back) the operator role: the console at /console/ when EXEUNT_CONSOLE is on."""
    async with db.write() as conn:
        await user_store.set_operator(conn, (await user_named(conn, username)).id, operator)


async def set_password(
    runtime: Runtime, username: str, password: str, *, keep_sid: str | None = None, by_owner: bool = False
) -> Ended:
    """A new password; every session of the user ends (but ``keep_sid``, the browser that changed it),
    and every Shared Signals receiver that may hear of the person hears credential-change; all of it
    in one transaction, with one ``txn``.  ``by_owner``: the person set it (else an operator)."""
    async with runtime.db.read() as conn:
        user = await user_named(conn, username)
    try:
        check_user_fields(user.username, password, None, None)
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc
    password_hash = await asyncio.to_thread(hash_password, password)
    async with signing_out(runtime, txn=new_token(16)) as tx:  # the password and the sign-outs: both or neither
        await user_store.set_password(tx.conn, user.id, password_hash)
        await tx.end_user(
            user.id, EndReason.PASSWORD_CHANGED, keep_sid=keep_sid, entity="user" if by_owner else "admin"
        )
        await tx.credential_changed(user, by_owner=by_owner)
    return Ended(tx.ended)


async def user_named(conn: Connection, username: str) -> UserRecord:
    user = await user_store.get_by_username(conn, username)
    if user is None:
        raise OperatorError(f"no user {username!r}")
    return user
