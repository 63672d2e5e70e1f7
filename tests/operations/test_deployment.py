"""The container deployment, proved without a container engine (none runs on these machines):
the Dockerfile passes hadolint, docker-compose.yml validates, and every command they run is run
here, against PostgreSQL, with the compose file's environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.databases import PostgresTemplate, _pg_execute
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed; `make test` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def compose_command() -> list[str]:
    """The README's `docker compose` (v2) where the machine has it, else Debian's `docker-compose` (v1):
    the compose file is written for both."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    return [tool("docker-compose")]


def compose_config() -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [*compose_command(), "--env-file", ".env.example", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_podman_compose_reads_the_compose_file_as_docker_compose_does(tmp_path: Path) -> None:
    """podman-compose (Debian's 1.0) plans the same four containers with the same settings: no
    variable is passed on unexpanded (it once passed "${VAR:-}" on as text)."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    planned = subprocess.run([tool("podman-compose"), "--dry-run", "up", "-d", "--no-build"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    runs = [line for line in planned.stdout.splitlines() if line.startswith("podman run ")]
    assert len(runs) == 4, planned.stdout + planned.stderr
    assert not any("${" in line for line in runs), runs
    idp = next(line for line in runs if "--name=" in line and "_idp_" in line)
    assert "-e EXEUNT_METRICS_TOKEN= " in idp and "-e EXEUNT_ISSUER=https://id.example.com " in idp
    assert idp.endswith("exeunt serve --host 0.0.0.0 --port 8000 --no-worker")


def test_compose_file_validates_with_the_documented_env_file() -> None:
    services = compose_config()["services"]
    assert set(services) == {"postgres", "migrate", "idp", "worker"}
    assert services["migrate"]["command"] == ["exeunt", "migrate"]
    assert services["idp"]["command"][:2] == ["exeunt", "serve"] and "--no-worker" in services["idp"]["command"]
    assert services["worker"]["command"] == ["exeunt", "worker"]
    assert "pgdata" in compose_config()["volumes"]
    # With X-Forwarded-* trusted from anywhere, the port must not be reachable from anywhere but this host.
    [port] = services["idp"]["ports"]  # v1 prints "127.0.0.1:8000:8000/tcp", v2 a mapping
    assert (port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1", port
    for name in ("migrate", "idp", "worker"):  # configuration by environment variables only
        assert all(k.startswith("EXEUNT_") for k in services[name]["environment"])
    readme = (ROOT / "README.md").read_text()
    for variable in re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M):
        assert f"`{variable}`" in readme, f"{variable} from .env.example is not documented in the README"


def _local(command: list[str], port: int) -> list[str]:
    """A container command as this machine runs it: on loopback, on a free port."""
    assert command[0] == "exeunt"
    return [{"0.0.0.0": "127.0.0.1", "8000": str(port)}.get(part, part) for part in command[1:]]


def _exeunt(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXEUNT_")}
    return subprocess.run(
        [sys.executable, "-m", "exeunt.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait_ready(url: str, want: int, timeout: float = 30) -> dict:  # type: ignore[type-arg]
    def answered() -> httpx.Response | None:
        response = httpx.get(url + "/readyz", timeout=5)
        return response if response.status_code == want else None

    body: dict = wait_until(answered, timeout=timeout, interval=0.1, what=f"/readyz to answer {want}").json()  # type: ignore[type-arg]
    return body


def test_every_container_command_runs_against_postgresql(postgresql_template: PostgresTemplate, tmp_path: Path) -> None:
    services = compose_config()["services"]
    database_url = postgresql_template.fresh(tmp_path)
    # Migrations start from nothing here, as the compose `migrate` step does on a new volume.

    name = database_url.rsplit("/", 1)[1]
    postgresql_template.drop(database_url)
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    env = {**services["idp"]["environment"], "EXEUNT_DATABASE_URL": database_url}
    port = free_port()
    local = f"http://127.0.0.1:{port}"

    migrate = _exeunt(_local(services["migrate"]["command"], port), env, tmp_path)
    assert migrate.returncode == 0 and "up to date" in migrate.stdout, migrate.stderr

    idp = ExeuntProcess(_local(services["idp"]["command"], port), env, tmp_path, tmp_path / "idp.log")
    worker = None
    try:
        idp.wait_healthy(local)
        docker_health = json.loads(
            re.search(r"CMD (\[.*\])", (ROOT / "Dockerfile").read_text().split("HEALTHCHECK")[1]).group(1)
        )
        assert _exeunt([*_local(docker_health, port), "--url", local], env, tmp_path).returncode == 0
        not_ready = _wait_ready(local, 503)
        assert not_ready["checks"]["worker"].startswith("no `exeunt worker`")

        worker = ExeuntProcess(_local(services["worker"]["command"], port), env, tmp_path, tmp_path / "worker.log")
        assert _wait_ready(local, 200)["checks"] == {"database": "ok", "migrations": "ok", "worker": "ok"}
        worker_health = services["worker"]["healthcheck"]["test"][1:]
        assert _exeunt(_local(worker_health, port), env, tmp_path).returncode == 0
        users = _exeunt(["users", "add", "alice", "--password-stdin"], env, tmp_path, "a long password\n")
        assert users.returncode == 0, users.stderr  # the README's next step after `docker compose up`
    finally:
        assert idp.terminate() == 0, idp.output()
        if worker is not None:
            assert worker.terminate() == 0, worker.output()

    # The image's default command: the provider with its in-process worker.
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    # It listens on EXEUNT_PORT (the image sets 8000; here, the free port).
    whole = ExeuntProcess(_local(cmd, port), {**env, "EXEUNT_PORT": str(port)}, tmp_path, tmp_path / "default.log")
    try:
        whole.wait_healthy(local)
        _wait_ready(local, 200)
    finally:
        assert whole.terminate() == 0
    postgresql_template.drop(database_url)
