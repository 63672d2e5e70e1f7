"""Backups of the embedded database, as an operator takes and restores them: `exeunt backup` while
exeunt serves, `exeunt restore` only once it is stopped, and no session signed out after the backup
comes back to life (every session live in the backup ends, and its applications are told)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest

from tests.support.cli import exeunt, register_with_cli
from tests.support.databases import PG_HOST_URL, PostgresTemplate, _pg_execute
from tests.support.flows import Browser, Remote, Rp, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def _sid_of(body: str) -> str:
    token = parse_qs(body)["logout_token"][0]
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def _sign_in(issuer: str, client: Rp) -> tuple[Browser, str]:
    browser = Browser(Remote(issuer))
    answer = exchange(Remote(issuer), client, browser.sign_in(client, password=PASSWORD))
    assert answer.status_code == 200, answer.text
    sid = jwt.decode(answer.json()["id_token"], options={"verify_signature": False})["sid"]
    return browser, str(sid)


def test_backup_while_serving_and_restore_ends_what_was_live(tmp_path: Path, receivers: list[RecordingRp]) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_SECRET_KEY": "k" * 48}
    client = register_with_cli("notes", issuer, cwd=tmp_path, env=env, password=PASSWORD, receivers=receivers)
    rp = receivers[-1]

    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve.log").wait_healthy(issuer)
    browsers: list[Browser] = []
    try:
        first, live_at_backup = _sign_in(issuer, client)
        browsers.append(first)
        taken = exeunt("backup", "nightly.db", cwd=tmp_path, env=env)  # while serving
        assert taken.returncode == 0, taken.stderr
        assert "backed up to nightly.db" in taken.stdout and "1 sso_sessions" in taken.stdout
        assert "exeunt restore nightly.db" in taken.stdout
        again = exeunt("backup", "nightly.db", cwd=tmp_path, env=env)
        assert again.returncode == 2 and "exists already" in again.stderr  # never overwritten

        sign_out(first)  # after the backup: this sign-out is not in it
        [told] = rp.wait_for("backchannel", timeout=30)
        assert _sid_of(told.data["body"]) == live_at_backup
        second, after_backup = _sign_in(issuer, client)
        browsers.append(second)

        running = exeunt("restore", "nightly.db", cwd=tmp_path, env=env)
        assert running.returncode == 2 and "exeunt is running on this database: stop it first" in running.stderr
    finally:
        server.terminate()

    restored = exeunt("restore", "nightly.db", cwd=tmp_path, env=env)
    assert restored.returncode == 0, restored.stderr
    assert "1 session live in the backup ended (reason admin)" in restored.stdout
    assert list(tmp_path.glob("exeunt.db.before-restore-*")), "the replaced database is kept"

    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve2.log").wait_healthy(issuer)
    try:
        # The session signed out after the backup was live in it: it ends again, and notes hears again.
        events = rp.wait_for("backchannel", count=2, timeout=30)
        assert _sid_of(events[1].data["body"]) == live_at_backup
        listed = exeunt("sessions", "list", "--all", cwd=tmp_path, env=env)
        assert live_at_backup in listed.stdout and "admin" in listed.stdout
        assert after_backup not in listed.stdout  # never in the backup
        # Neither browser is signed in any more: both are asked for a password.
        for browser in browsers:
            assert browser.authorize(client, state="s", nonce="n").status_code == 200

        # Signing everyone out, as after a PostgreSQL restore or in an incident.
        third, _ = _sign_in(issuer, client)
        browsers.append(third)
        everyone = exeunt("sessions", "end", "--every-live", cwd=tmp_path, env=env)
        assert everyone.returncode == 0 and "every live session: 1 session ended" in everyone.stdout
        rp.wait_for("backchannel", count=3, timeout=30)
    finally:
        server.terminate()
        for browser in browsers:
            browser.close()


def test_restore_refuses_what_is_not_a_backup_and_postgresql_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    assert exeunt("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "notes.txt").write_text("not a database")
    wrong = exeunt("restore", "notes.txt", cwd=tmp_path)
    assert wrong.returncode == 2 and "notes.txt is not a backup of an exeunt database" in wrong.stderr
    missing = exeunt("restore", "nowhere.db", cwd=tmp_path)
    assert missing.returncode == 2 and "no backup at nowhere.db" in missing.stderr
    pg = {"EXEUNT_DATABASE_URL": "postgresql+asyncpg://127.0.0.1/test"}
    told = exeunt("backup", "x.db", cwd=tmp_path, env=pg)
    assert told.returncode == 2 and "pg_dump" in told.stderr and "Traceback" not in told.stderr


def test_the_postgresql_procedure_pg_dump_pg_restore_then_every_live_session_ends(
    postgresql_template: PostgresTemplate, tmp_path: Path, receivers: list[RecordingRp]
) -> None:
    """The README's PostgreSQL backup, word for word: pg_dump, pg_restore into an empty database,
    `exeunt migrate`, `exeunt sessions end --every-live`, then start exeunt: the applications hear."""
    source = postgresql_template.fresh(tmp_path)
    restored = f"{PG_HOST_URL}/exeunt_r_{uuid.uuid4().hex[:10]}"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_SECRET_KEY": "k" * 48, "EXEUNT_DATABASE_URL": source}
    rp = RecordingRp("notes")
    receivers.append(rp)
    added = exeunt("clients", "add", "notes", "--redirect-uri", rp.redirect_uri,
                   "--backchannel-logout-uri", rp.base + "/bc", cwd=tmp_path, env=env)  # fmt: skip
    rp.start(issuer, added.stdout.split("client_secret: ")[1].split()[0])
    client = Rp("notes", rp.redirect_uri, rp.secret)
    exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin=PASSWORD + "\n")
    server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "serve.log").wait_healthy(issuer)
    try:
        browser, live_at_backup = _sign_in(issuer, client)
        browser.close()
        dump = tmp_path / "exeunt.dump"
        libpq = source.replace("+asyncpg", "")
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", libpq], check=True, timeout=120)
    finally:
        server.terminate()
    try:
        asyncio.run(_pg_execute(f'CREATE DATABASE "{restored.rsplit("/", 1)[1]}" TEMPLATE template0'))
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored.replace('+asyncpg', '')}", str(dump)],
                       check=True, timeout=120)  # fmt: skip
        env = {**env, "EXEUNT_DATABASE_URL": restored}
        assert exeunt("migrate", cwd=tmp_path, env=env).returncode == 0
        everyone = exeunt("sessions", "end", "--every-live", cwd=tmp_path, env=env)
        assert everyone.returncode == 0 and "every live session: 1 session ended" in everyone.stdout
        server = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "s2.log").wait_healthy(issuer)
        try:
            [told] = rp.wait_for("backchannel", timeout=30)
            assert _sid_of(told.data["body"]) == live_at_backup
        finally:
            server.terminate()
    finally:
        postgresql_template.drop(restored)
        postgresql_template.drop(source)
