"""The command line as a newcomer meets it: what it refuses, it says why and what to do."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import exeunt
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port

pytestmark = pytest.mark.slow  # dozens of commands, each a Python start-up

CB = "http://localhost:9/cb"


def test_read_only_commands_refuse_to_create_a_database_and_writers_say_where(tmp_path: Path) -> None:
    """Item 7: no silent ./exeunt.db in whatever folder the CLI runs in."""
    listing = exeunt("users", "list", cwd=tmp_path)
    assert listing.returncode == 2 and "no database at exeunt.db" in listing.stderr
    assert "set EXEUNT_DATABASE_URL" in listing.stderr and not (tmp_path / "exeunt.db").exists()
    added = exeunt("users", "add", "alice", "--password-stdin", cwd=tmp_path, stdin="long enough\n")
    assert added.returncode == 0 and f"creating a new database at {tmp_path / 'exeunt.db'}" in added.stderr
    again = exeunt("users", "list", cwd=tmp_path)
    assert again.returncode == 0 and "creating" not in again.stderr
    assert again.stdout.splitlines()[0] == "username\tsub\temail\tname\tstate"  # item 9: a header
    granted = exeunt("users", "grant-operator", "alice", cwd=tmp_path)
    assert granted.returncode == 0 and "/console/" in granted.stdout and "EXEUNT_CONSOLE" in granted.stdout
    assert "active, operator" in exeunt("users", "list", cwd=tmp_path).stdout
    assert exeunt("users", "revoke-operator", "alice", cwd=tmp_path).returncode == 0
    assert "operator" not in exeunt("users", "list", cwd=tmp_path).stdout.splitlines()[1]


def test_a_read_only_command_never_migrates_a_database_a_server_may_be_migrating(tmp_path: Path) -> None:
    """The container's health check (read-only) ran the migrations of the SQLite file its starting
    server was migrating ("database is locked"): on a file not at the newest schema it says what to
    do and writes no table."""
    sqlite3.connect(tmp_path / "exeunt.db").close()  # an empty file: a server about to migrate it
    checked = exeunt("users", "list", cwd=tmp_path)
    assert checked.returncode == 2 and "run `exeunt migrate` first" in checked.stderr, checked.stderr
    with sqlite3.connect(tmp_path / "exeunt.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone() == (0,)
    health = exeunt("healthcheck", "--worker", cwd=tmp_path)
    assert health.returncode != 0 and "Traceback" not in health.stderr
    with sqlite3.connect(tmp_path / "exeunt.db") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone() == (0,)


def test_a_taken_port_and_a_mismatched_issuer_are_said_plainly(tmp_path: Path) -> None:
    """Item 8."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = exeunt("serve", "--port", str(port), cwd=tmp_path, env={"EXEUNT_ISSUER": f"http://127.0.0.1:{port}"})
    assert busy.returncode == 2 and f"port {port} on 127.0.0.1 is taken" in busy.stderr and "--port" in busy.stderr
    assert "Errno" not in busy.stderr and "Traceback" not in busy.stderr
    free = free_port()
    server = ExeuntProcess(
        ["serve", "--port", str(free)], {"EXEUNT_ISSUER": "http://127.0.0.1:8000"}, tmp_path, tmp_path / "s.log"
    )
    try:
        server.wait_healthy(f"http://127.0.0.1:{free}")
        assert "EXEUNT_ISSUER is http://127.0.0.1:8000 but exeunt serves on port" in server.output()
        healthy = exeunt("healthcheck", "--port", str(free), cwd=tmp_path)
        assert healthy.returncode == 0 and healthy.stdout.startswith("healthy")
    finally:
        server.terminate()
    down = exeunt("healthcheck", "--port", str(free), cwd=tmp_path)
    assert down.returncode == 1 and down.stdout.startswith(f"unhealthy: http://127.0.0.1:{free}/healthz: ")
    assert len(down.stdout.strip()) > len(f"unhealthy: http://127.0.0.1:{free}/healthz: ")  # with its reason


def test_version_help_and_empty_lists(tmp_path: Path) -> None:
    """Item 9: --version, help for every subcommand and option, a word for an empty list."""
    assert exeunt("--version", cwd=tmp_path).stdout.startswith("exeunt ")
    assert exeunt("migrate", cwd=tmp_path).returncode == 0
    assert "no clients yet" in exeunt("clients", "list", cwd=tmp_path).stdout
    assert "no users yet" in exeunt("users", "list", cwd=tmp_path).stdout


def test_seed_counts_read_as_english(tmp_path: Path) -> None:
    """Item 10 ("1 users" -> "1 user"; unknown keys are named with their line: tests/unit)."""
    seed = tmp_path / "seed.toml"
    seed.write_text('[[users]]\nusername = "alice"\npassword = "long enough"\n')
    result = exeunt("seed", str(seed), cwd=tmp_path)
    assert result.returncode == 0 and "1 user and 0 clients written" in result.stdout


def test_no_terminal_existing_names_and_unknown_sessions_say_what_to_do(tmp_path: Path) -> None:
    """Issue 25, as a new operator met it: piped or `docker exec` without -t, a second add, a wrong sid."""
    piped = exeunt("users", "add", "carol", cwd=tmp_path)  # stdin is a pipe, not a terminal
    assert piped.returncode == 2 and "no terminal" in piped.stderr and "--password-stdin" in piped.stderr
    assert "Traceback" not in piped.stderr
    assert exeunt("users", "add", "carol", "--password-stdin", cwd=tmp_path, stdin="long enough\n").returncode == 0
    twice = exeunt("users", "add", "carol", "--password-stdin", cwd=tmp_path, stdin="long enough\n")
    assert twice.returncode == 2 and "exeunt users set-password carol" in twice.stderr
    assert exeunt("clients", "add", "app", "--redirect-uri", CB, cwd=tmp_path).returncode == 0
    again = exeunt("clients", "add", "app", "--redirect-uri", CB, cwd=tmp_path)
    assert again.returncode == 2 and "exeunt clients update app" in again.stderr
    updated = exeunt("clients", "update", "app", "--name", "The App", "--post-logout-redirect-uri", CB, cwd=tmp_path)
    assert updated.returncode == 0 and "client_secret" not in updated.stdout  # the secret stays
    rotated = exeunt("clients", "update", "app", "--rotate-secret", cwd=tmp_path)
    assert rotated.returncode == 0 and "client_secret: " in rotated.stdout
    shown = exeunt("clients", "show", "app", cwd=tmp_path).stdout
    assert '"name": "The App"' in shown and '"registered_over_http": false' in shown
    unknown = exeunt("sessions", "show", "nosuchsid", cwd=tmp_path)
    assert unknown.returncode == 2 and "exeunt sessions list --all" in unknown.stderr
    assert exeunt("deliveries", cwd=tmp_path).stdout.strip() == "no back-channel notifications yet"
    assert exeunt("events", cwd=tmp_path).stdout.strip() == "no events yet"


def test_the_demo_names_every_taken_port_at_once(tmp_path: Path) -> None:
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        one.listen(1)
        two.listen(1)
        ports = [one.getsockname()[1], two.getsockname()[1]]
        answer = exeunt("demo", "--port", str(ports[0]), "--notes-port", str(ports[1]), cwd=tmp_path)
    assert answer.returncode == 2, answer.stderr
    assert f"{ports[0]}" in answer.stderr and "--port PORT" in answer.stderr
    assert f"{ports[1]}" in answer.stderr and "--notes-port PORT" in answer.stderr
