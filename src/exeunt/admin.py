"""Operator actions behind the CLI and the seed file: users, clients, keys, deliveries, schema checks.

Each action takes an open ``Database`` (and the time, where it matters) and returns plain data;
the rules (what may be retired, what may be re-queued) live here, the CLI only parses and prints.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from exeunt.config import SIGNING_ALGS, Config
from exeunt.errors import KeyFileError, OperatorError, SeedError
from exeunt.lifecycle import EndReason, device_summary
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.identifiers import is_random_id
from exeunt.protocol.registration import check_chosen_secret
from exeunt.runtime import Runtime
from exeunt.security import hash_client_secret, hash_password, new_token, verify_client_secret, verify_password
from exeunt.seed_file import check_user_fields, read_seed
from exeunt.signout import EndedSession, sign_out_many, sign_out_user, signing_out
from exeunt.storage import clients as client_store
from exeunt.storage import grants, heartbeats, outbox
from exeunt.storage import keys as key_store
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection, Database, DatabaseError
from exeunt.storage.migrations import current_revision, head_revision, upgrade
from exeunt.storage.outbox import DeliveryRecord
from exeunt.storage.sessions import SessionRecord
from exeunt.storage.users import UserRecord
from exeunt.tokens.keys import KeyRecord, KeyRing, alg_of, load_key_file, new_key_record


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


async def prepare_database(config: Config, *, migrate: bool | None = None, create: bool = True) -> Database:
    """Open the database, migrating it when asked (default: on SQLite only) or checking it is at head.

    A SQLite file that does not exist yet is created only when ``create`` (a command that writes), and
    then the command says where; a command that only reads refuses, naming the file it looked for."""
    path = sqlite_path(config.database_url)
    if path is not None and not path.exists():
        if not create:
            raise OperatorError(
                f"no database at {path}; set EXEUNT_DATABASE_URL or run from the folder of your installation"
            )
        print(f"exeunt: creating a new database at {path.resolve()}", file=sys.stderr)
    db = Database(
        config.database_url,
        pool_size=config.db_pool_size,
        pool_timeout=config.db_pool_timeout,
        statement_timeout=None if migrate else config.db_statement_timeout,
    )
    if migrate is None:
        migrate = db.is_sqlite
    try:
        if migrate:
            await upgrade(db)
            return db
        current, head = await current_revision(db), head_revision()
    except (OSError, DatabaseError) as exc:
        await db.dispose()
        raise OperatorError(f"cannot reach the database named by EXEUNT_DATABASE_URL: {exc}") from exc
    if current != head:
        await db.dispose()
        raise OperatorError(
            f"the database schema is at {current or 'nothing'}, this exeunt needs {head}: run `exeunt migrate` first"
        )
    return db


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
            raise OperatorError(f"user {username!r} exists already")
        await user_store.add(conn, username=username, password_hash=password_hash, email=email, name=name, now=now)


async def add_client(db: Database, client: ClientRecord, secret: str | None, *, now: datetime) -> str | None:
    """Register ``client``; returns the secret to show once (generated when none was chosen)."""
    if client.is_public:
        if secret:
            raise OperatorError("a public client has no secret")
    else:
        if secret:
            check_chosen_secret(secret)
        else:
            secret = new_token(32)
        client = replace(client, secret_hash=hash_client_secret(secret))
    async with db.write() as conn:
        if await client_store.get(conn, client.client_id) is not None:
            raise OperatorError(f"client {client.client_id!r} exists already")
        await client_store.add(conn, client, now=now)
    return None if client.is_public else secret


async def apply_seed(db: Database, path: Path, *, now: datetime, config: Config | None = None) -> tuple[int, int]:
    """Create or update the users and clients declared in a TOML file.  Running it twice changes
    nothing the second time.  Returns (users, clients) written."""
    try:
        seed = read_seed(path)
    except SeedError as exc:
        raise OperatorError(str(exc)) from exc
    if config is not None:
        for declared in seed.clients:
            try:
                check_signing_alg(config, declared.record.id_token_signed_response_alg)
            except OperatorError as exc:
                raise OperatorError(f"{path}: client {declared.record.client_id!r}: {exc}") from exc
    written_users = written_clients = 0
    async with db.write() as conn:
        for user in seed.users:
            username, password, email, name = user.username, user.password, user.email, user.name
            existing = await user_store.get_by_username(conn, username)
            if existing is None:
                await user_store.add(
                    conn, username=username, password_hash=hash_password(password), email=email, name=name, now=now
                )
                written_users += 1
            elif not verify_password(password, existing.password_hash) or (existing.email, existing.name) != (
                email,
                name,
            ):
                password_hash = (
                    existing.password_hash
                    if verify_password(password, existing.password_hash)
                    else hash_password(password)
                )
                await user_store.update_profile(conn, existing.id, password_hash=password_hash, email=email, name=name)
                written_users += 1
        for declared in seed.clients:
            record, secret = declared.record, declared.secret
            existing_client = await client_store.get(conn, record.client_id)
            secret_hash = None
            if secret:
                keep = existing_client is not None and verify_client_secret(secret, existing_client.secret_hash)
                secret_hash = existing_client.secret_hash if keep and existing_client else hash_client_secret(secret)
            record = replace(record, secret_hash=secret_hash)
            if existing_client is None:
                await client_store.add(conn, record, now=now)
                written_clients += 1
            elif existing_client != record:
                await client_store.replace(conn, record)
                written_clients += 1
    return written_users, written_clients


# -- users and clients ----------------------------------------------------------------
async def list_users(db: Database) -> list[UserRecord]:
    async with db.read() as conn:
        return await user_store.list_all(conn)


async def remove_user(db: Database, username: str) -> None:
    async with db.write() as conn:
        if not await user_store.remove(conn, username):
            raise OperatorError(f"no user {username!r}")


async def list_clients(db: Database) -> list[ClientRecord]:
    async with db.read() as conn:
        return await client_store.list_all(conn)


async def get_client(db: Database, client_id: str) -> ClientRecord:
    async with db.read() as conn:
        client = await client_store.get(conn, client_id)
    if client is None:
        raise OperatorError(f"no client {client_id!r}")
    return client


async def remove_client(db: Database, client_id: str) -> None:
    async with db.write() as conn:
        if not await client_store.remove(conn, client_id):
            raise OperatorError(f"no client {client_id!r}")


# -- back-channel deliveries ----------------------------------------------------------
async def list_deliveries(
    db: Database, *, pending: bool = False, given_up: bool = False, client_id: str | None = None
) -> list[DeliveryRecord]:
    async with db.read() as conn:
        return await outbox.list_deliveries(conn, pending=pending, given_up=given_up, client_id=client_id)


async def requeue_deliveries(db: Database, *, delivery_id: int | None, now: datetime) -> int:
    """Queue given-up deliveries again (one, or all when ``delivery_id`` is None)."""
    async with db.write() as conn:
        count = await outbox.requeue(conn, now=now, delivery_id=delivery_id)
        await outbox.notify_workers(conn)
    if count == 0:
        raise OperatorError("nothing to retry: no given-up delivery matched")
    return count


async def worker_alive(db: Database, *, host: str, now: datetime) -> bool:
    async with db.read() as conn:
        return bool(await heartbeats.alive(conn, since=now - timedelta(seconds=30), host=host))


# -- signing keys ---------------------------------------------------------------------
@dataclass(frozen=True)
class KeyState:
    record: KeyRecord
    state: str  # signing, next, standby, published, retired


async def key_states(db: Database, config: Config, now: datetime) -> list[KeyState]:
    async with db.read() as conn:
        records = await key_store.list_all(conn)
    publish_after = timedelta(seconds=max(config.id_token_lifetime, config.access_token_lifetime))
    ring = KeyRing(records, publish_after_retire=publish_after)
    signing = {k.kid for k in (ring.signing_key(a, now) for a in SIGNING_ALGS) if k is not None}

    def state(record: KeyRecord) -> str:
        if record.kid in signing:
            return "signing"
        if record.signs_from > now:
            return "next"
        if record.retired_at is not None and record.retired_at <= now:
            return "published" if now < record.retired_at + publish_after else "retired"
        return "standby"

    return [KeyState(r, state(r)) for r in records]


def _keys_in_database(config: Config) -> None:
    if config.signing_key_files:
        raise OperatorError("signing keys come from EXEUNT_SIGNING_KEY_FILES; rotate them by changing those files")


async def rotate_keys(
    db: Database, config: Config, *, algs: tuple[str, ...] = SIGNING_ALGS, delay: timedelta, now: datetime
) -> list[KeyRecord]:
    """Publish a new key per algorithm now (all of them together unless told); each signs after
    ``delay``, when the older keys of its algorithm stop signing."""
    _keys_in_database(config)
    records = [new_key_record(alg, now, signs_from=now + delay) for alg in algs]
    async with db.write() as conn:
        await key_store.lock_for_key_changes(conn)
        existing = await key_store.list_all(conn)
        for record in records:
            for old in existing:
                if old.alg == record.alg:
                    await key_store.retire(conn, old.kid, record.signs_from)
            await key_store.add(conn, record)
    return records


def check_signing_alg(config: Config, alg: str | None) -> None:
    """Refuse a client whose ``id_token_signed_response_alg`` no key of this installation signs.

    Keys kept in the database exist for every algorithm (made at first start); keys given as PEM
    files are the operator's choice, and a client registered for an algorithm they lack would get
    no usable token.
    """
    if alg is None or not config.signing_key_files:
        return
    try:
        have = {alg_of(load_key_file(str(path))[1]) for path in config.signing_key_files}
    except KeyFileError as exc:
        raise OperatorError(f"EXEUNT_SIGNING_KEY_FILES: a key file {exc}") from exc
    if alg not in have:
        raise OperatorError(
            f"no {alg} key in EXEUNT_SIGNING_KEY_FILES (it has {', '.join(sorted(have))}): add a "
            f"{'P-256 EC' if alg == 'ES256' else 'RSA'} key file to that list, or register the client "
            f"with --id-token-signed-response-alg {' or '.join(sorted(have))}"
        )


async def retire_key(db: Database, config: Config, kid: str, *, force: bool, now: datetime) -> None:
    """Stop ``kid`` signing now; refused when no other key of its algorithm would sign after it."""
    _keys_in_database(config)
    async with db.write() as conn:
        records = {r.kid: r for r in await key_store.list_all(conn)}
        target = records.get(kid)
        if target is None:
            raise OperatorError(f"no key {kid!r}")
        others = [r for r in records.values() if r.alg == target.alg and r.kid != kid and r.retired_at is None]
        if not others and not force:
            raise OperatorError(
                f"no key would sign {target.alg} tokens after this; run `exeunt keys rotate` first (or use --force)"
            )
        await key_store.retire(conn, kid, now)


# -- sessions -------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionView:
    """A session as operators and the person see it."""

    session: SessionRecord
    username: str
    device: str
    applications: list[str]
    state: str  # live, or the reason it ended (or "overdue": past a deadline, the sweeper will end it)


@dataclass(frozen=True)
class Ended:
    """What ending sessions did: how many ended and how many notifications were queued."""

    sessions: list[EndedSession]

    @property
    def notifications(self) -> int:
        return sum(e.notifications for e in self.sessions)


async def _views(conn: Connection, sessions: list[SessionRecord], now: datetime, idle: int | None) -> list[SessionView]:
    views = []
    names: dict[int, str] = {}
    for s in sessions:
        if s.user_id not in names:
            user = await user_store.get(conn, s.user_id)
            names[s.user_id] = user.username if user else "(removed)"
        if s.ended_at is not None:
            state = s.ended_reason or "ended"
        else:
            state = "overdue" if s.overdue(now, idle) else "live"
        apps = [c.name for c in await session_store.participants(conn, s.sid)]
        views.append(SessionView(s, names[s.user_id], device_summary(s.user_agent), apps, state))
    return views


async def list_sessions(
    db: Database,
    config: Config,
    *,
    now: datetime,
    username: str | None = None,
    client_id: str | None = None,
    include_ended: bool = False,
    limit: int = 1000,
) -> list[SessionView]:
    async with db.read() as conn:
        user_id = (await _user(conn, username)).id if username else None
        sessions = await session_store.listing(
            conn, live_at=None if include_ended else now, user_id=user_id, client_id=client_id, limit=limit
        )
        return await _views(conn, sessions, now, config.session_idle_timeout)


async def show_session(
    db: Database, config: Config, sid: str, *, now: datetime
) -> tuple[SessionView, list[DeliveryRecord]]:
    """A session and the back-channel notifications of its ending (if it ended)."""
    async with db.read() as conn:
        session = await session_store.get(conn, sid) if is_random_id(sid) else None
        if session is None:
            raise OperatorError(f"no session {sid!r}")
        [view] = await _views(conn, [session], now, config.session_idle_timeout)
        deliveries = await outbox.of_sid(conn, sid)
    return view, deliveries


async def _user(conn: Connection, username: str) -> UserRecord:
    user = await user_store.get_by_username(conn, username)
    if user is None:
        raise OperatorError(f"no user {username!r}")
    return user


async def end_sessions(runtime: Runtime, sids: list[str], reason: EndReason = EndReason.ADMIN) -> Ended:
    """End the named sessions; an unknown or already ended one is an error naming it (nothing is
    ended twice, and the others still end)."""
    async with runtime.db.read() as conn:
        for sid in sids:
            session = await session_store.get(conn, sid) if is_random_id(sid) else None
            if session is None:
                raise OperatorError(f"no session {sid!r}")
            if session.ended_at is not None:
                raise OperatorError(f"session {sid} ended already ({session.ended_reason or 'ended'})")
    return Ended(await sign_out_many(runtime, sids, reason))


async def end_user_sessions(runtime: Runtime, username: str, reason: EndReason = EndReason.ADMIN) -> Ended:
    async with runtime.db.read() as conn:
        user = await _user(conn, username)
    return Ended(await sign_out_user(runtime, user.id, reason))


async def remove_user_everywhere(runtime: Runtime, username: str) -> Ended:
    """End every session of the user (their applications are told) and remove the user, in one
    transaction."""
    async with signing_out(runtime) as tx:
        user = await _user(tx.conn, username)
        await tx.end_user(user.id, EndReason.USER_REMOVED)
        await user_store.remove(tx.conn, username)
    return Ended(tx.ended)


async def disable_user(runtime: Runtime, username: str) -> Ended:
    """The user can no longer sign in, and every session they have ends now (one transaction)."""
    async with signing_out(runtime) as tx:
        user = await _user(tx.conn, username)
        await user_store.set_disabled(tx.conn, user.id, tx.now)
        await tx.end_user(user.id, EndReason.USER_REMOVED)
    return Ended(tx.ended)


async def enable_user(db: Database, username: str) -> None:
    async with db.write() as conn:
        await user_store.set_disabled(conn, (await _user(conn, username)).id, None)


async def set_password(runtime: Runtime, username: str, password: str, *, keep_sid: str | None = None) -> Ended:
    """A new password; every session of the user ends (but ``keep_sid``, the browser that changed it)."""
    async with runtime.db.read() as conn:
        user = await _user(conn, username)
    try:
        check_user_fields(user.username, password, None, None)
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc
    password_hash = await asyncio.to_thread(hash_password, password)
    async with signing_out(runtime) as tx:  # the new password and the sign-outs: both or neither
        await user_store.set_password(tx.conn, user.id, password_hash)
        await tx.end_user(user.id, EndReason.PASSWORD_CHANGED, keep_sid=keep_sid)
    return Ended(tx.ended)


# -- tokens -----------------------------------------------------------------------------
async def token_counts(
    db: Database, *, now: datetime, username: str | None = None, client_id: str | None = None
) -> list[grants.TokenCounts]:
    """Live tokens per client, counted (never shown)."""
    async with db.read() as conn:
        user_id = (await _user(conn, username)).id if username else None
        return await grants.counts(conn, now=now, user_id=user_id, client_id=client_id)


async def revoke_tokens(db: Database, username: str, *, client_id: str | None, now: datetime) -> tuple[int, int]:
    """Revoke a user's refresh-token grants (offline ones too) and access tokens, of one client or all.
    Returns (grants, access tokens) revoked.  Sessions stay; `exeunt sessions end` ends those."""
    async with db.write() as conn:
        user = await _user(conn, username)
        families = await grants.revoke_refresh_of_user(conn, user.id, now, client_id=client_id)
        access = await grants.revoke_access_tokens_of_user(conn, user.id, now, client_id=client_id)
    return families, access
