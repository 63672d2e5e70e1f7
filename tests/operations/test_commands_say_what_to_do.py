"""The command line as a newcomer meets it: what it refuses, it says why and what to do."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.cli import exeunt
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port

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
