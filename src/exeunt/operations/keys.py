"""Signing keys: what each key does now, rotation and retirement rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from exeunt.config import SIGNING_ALGS, Config
from exeunt.errors import KeyFileError, OperatorError
from exeunt.storage import keys as key_store
from exeunt.storage.database import Database
from exeunt.tokens.keys import KeyRecord, KeyRing, alg_of, load_key_file, new_key_record


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
