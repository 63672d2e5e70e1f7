"""The seed file: users and clients declared in TOML, created or updated (idempotent)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from exeunt.config import Config
from exeunt.errors import OperatorError, SeedError
from exeunt.operations.keys import check_signing_alg
from exeunt.security import hash_client_secret, hash_password, verify_client_secret, verify_password
from exeunt.seed_file import read_seed
from exeunt.storage import clients as client_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Database


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
