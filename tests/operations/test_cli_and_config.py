"""The `exeunt` command as an operator uses it, and settings validation at start-up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from exeunt.config import SETTINGS, ConfigError, load_config
from exeunt.storage.migrations import head_revision
from exeunt.storage.models import Base
from tests.support.cli import exeunt


@pytest.mark.parametrize(
    "env, named",
    [
        ({"EXEUNT_ISSUER": "ftp://x"}, "EXEUNT_ISSUER"),
        ({"EXEUNT_ISSUER": "http://id.example.com"}, "EXEUNT_ISSUER"),
        ({"EXEUNT_ISSUER": "https://id.example.com/?a=b"}, "EXEUNT_ISSUER"),
        ({"EXEUNT_DATABASE_URL": "postgres://x/y"}, "postgresql+asyncpg"),
        ({"EXEUNT_SECRET_KEY": "short"}, "EXEUNT_SECRET_KEY"),
        ({"EXEUNT_SESSION_LIFETIME": "soon"}, "EXEUNT_SESSION_LIFETIME"),
        ({"EXEUNT_CODE_LIFETIME": "600"}, "EXEUNT_CODE_LIFETIME"),
        ({"EXEUNT_SIGNING_ALG": "HS256"}, "EXEUNT_SIGNING_ALG"),
        ({"EXEUNT_LOGOUT_SKIP_CONFIRMATION": "perhaps"}, "EXEUNT_LOGOUT_SKIP_CONFIRMATION"),
        ({"EXEUNT_SEED_FILE": "/nonexistent.toml"}, "EXEUNT_SEED_FILE"),
        ({"EXEUNT_ISUER": "https://typo.example"}, "EXEUNT_ISUER"),
    ],
)
def test_a_bad_setting_is_named_in_one_sentence(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    message = str(caught.value)
    assert named in message and "\n" not in message


def test_defaults_and_https_issuer_make_secure_cookies() -> None:
    config = load_config({"EXEUNT_ISSUER": "https://id.example.com/"})
    assert config.issuer == "https://id.example.com" and config.secure_cookies
    assert not load_config({}).secure_cookies


def test_a_renamed_setting_is_still_read_under_its_old_name() -> None:
    assert load_config({"EXEUNT_WORKER_DATABASE_SHARE": "35"}).worker_backlog_share == 35
    both = {"EXEUNT_WORKER_DATABASE_SHARE": "35", "EXEUNT_WORKER_BACKLOG_SHARE": "40"}
    assert load_config(both).worker_backlog_share == 40  # the new name wins
    with pytest.raises(ConfigError, match="EXEUNT_WORKER_BACKLOG_SHARE"):
        load_config({"EXEUNT_WORKER_DATABASE_SHARE": "0"})  # checked as the setting it now is


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows: dict[str, str] = {}  # the configuration table: the first row naming each variable
    for line in readme.splitlines():
        if line.startswith("| `EXEUNT_"):
            cells = line.split("|")
            rows.setdefault(cells[1].strip(" `"), cells[2].replace("`", "").strip())
    assert list(rows)[: len(SETTINGS)] == [s.name for s in SETTINGS]  # in the order of config.SETTINGS
    for setting in SETTINGS:
        assert rows[setting.name] == setting.documented_default.replace("`", ""), setting.name


def test_serve_refuses_a_bad_setting_with_its_name(tmp_path: Path) -> None:
    result = exeunt("serve", cwd=tmp_path, env={"EXEUNT_SIGNING_ALG": "none"})
    assert result.returncode == 2
    assert "EXEUNT_SIGNING_ALG" in result.stderr and "Traceback" not in result.stderr


def test_users_and_clients_from_the_command_line(tmp_path: Path) -> None:
    assert (
        exeunt(
            "users", "add", "alice", "--password-stdin", "--email", "a@example.org", cwd=tmp_path, stdin="long enough\n"
        ).returncode
        == 0
    )
    again = exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, stdin="long enough\n")
    assert again.returncode == 2 and "exists already" in again.stderr

    added = exeunt(
        "clients",
        "add",
        "notes",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--post-logout-redirect-uri",
        "http://localhost:3000/bye",
        "--frontchannel-logout-uri",
        "http://localhost:3000/fc",
        "--frontchannel-logout-session-required",
        "--backchannel-logout-uri",
        "http://localhost:3000/bc",
        "--name",
        "Notes",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    assert len(secret) >= 43  # 32 random bytes, base64url
    shown = json.loads(exeunt("clients", "show", "notes", cwd=tmp_path).stdout)
    assert shown["frontchannel_logout_session_required"] is True
    assert shown["backchannel_logout_uri"] == "http://localhost:3000/bc"
    assert "secret_hash" not in shown and secret not in json.dumps(shown)
    assert secret not in (tmp_path / "exeunt.db").read_bytes().decode("latin-1")  # only a hash is kept

    chosen = exeunt(
        "clients",
        "add",
        "billing",
        "--redirect-uri",
        "http://localhost:3001/cb",
        "--secret-stdin",
        cwd=tmp_path,
        stdin="x" * 40 + "\n",
    )
    assert chosen.returncode == 0 and "client_secret:" not in chosen.stdout
    assert "notes" in exeunt("clients", "list", cwd=tmp_path).stdout
    assert exeunt("clients", "remove", "billing", cwd=tmp_path).returncode == 0
    assert exeunt("clients", "show", "billing", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--redirect-uri", "http://localhost:3000/cb#frag"], "fragment"),
        (["--redirect-uri", "/relative"], "absolute"),
        (["--redirect-uri", "http://example.com/cb"], "https"),
        (
            ["--redirect-uri", "http://localhost:3000/cb", "--frontchannel-logout-uri", "http://localhost:4000/fc"],
            "scheme, host and port",
        ),
        (
            ["--redirect-uri", "http://localhost:3000/cb", "--backchannel-logout-uri", "http://localhost:3000/bc#x"],
            "fragment",
        ),
        (["--redirect-uri", "http://localhost:3000/cb", "--post-logout-redirect-uri", "bye"], "absolute"),
        (["--redirect-uri", "http://localhost:3000/cb", "--backchannel-logout-session-required"], "needs"),
    ],
)
def test_registration_rules_are_enforced(tmp_path: Path, args: list[str], complaint: str) -> None:
    result = exeunt("clients", "add", "c", *args, cwd=tmp_path)
    assert result.returncode == 2 and complaint in result.stderr, result.stderr


def test_a_chosen_secret_must_be_long(tmp_path: Path) -> None:
    result = exeunt(
        "clients", "add", "c", "--redirect-uri", "http://localhost/cb", "--secret-stdin", cwd=tmp_path, stdin="short\n"
    )
    assert result.returncode == 2 and "32 characters" in result.stderr


def test_seed_file_is_idempotent(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(
        '[[users]]\nusername = "alice"\npassword = "long enough"\nname = "Alice"\n\n'
        '[[clients]]\nclient_id = "notes"\nname = "Notes"\nsecret = "' + "s" * 40 + '"\n'
        'redirect_uris = ["http://localhost:3000/cb"]\n'
        'backchannel_logout_uri = "http://localhost:3000/bc"\nbackchannel_logout_session_required = true\n'
    )
    first = exeunt("seed", str(seed), cwd=tmp_path)
    assert first.returncode == 0 and "1 user and 1 client written" in first.stdout, first.stderr
    second = exeunt("seed", str(seed), cwd=tmp_path)
    assert "0 users and 0 clients written" in second.stdout
    seed.write_text(seed.read_text().replace('name = "Notes"', 'name = "Notes 2"'))
    assert "0 users and 1 client written" in exeunt("seed", str(seed), cwd=tmp_path).stdout


def test_migrate_then_schema_check(tmp_path: Path) -> None:
    result = exeunt("migrate", cwd=tmp_path)
    assert result.returncode == 0 and "up to date" in result.stdout
    with sqlite3.connect(tmp_path / "exeunt.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        [(version,)] = db.execute("SELECT version_num FROM alembic_version").fetchall()
        columns = {name for (_, name, *_) in db.execute("PRAGMA table_info(signouts)")}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert version == head_revision()
    assert set(Base.metadata.tables["signouts"].columns.keys()) == columns
    again = exeunt("migrate", cwd=tmp_path)  # idempotent
    assert again.returncode == 0 and "up to date" in again.stdout
