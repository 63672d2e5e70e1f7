"""The container, built from the repository's Dockerfile and run with podman, as operators run it:
on SQLite with a volume, read-only, as a non-root user; and the compose topology on the host's
PostgreSQL (migrate once, two providers without workers, two workers), one worker SIGKILLed with
deliveries in flight and nothing lost; one health check for both roles; SIGTERM within the grace.

podman comes from scripts/container-setup (which scripts/test runs); where podman cannot run at
all, these tests skip and say why.  Containers use the host's network, so they reach the host's
PostgreSQL and the tests' receivers on loopback; each gets a port of its own."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import PostgresTemplate
from tests.support.flows import Browser, Remote, Rp, exchange, sign_out
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PODMAN = ["podman", "--runtime", "runc"]
PASSWORD = "correct horse battery"


def podman(*args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run([*PODMAN, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: scripts/container-setup installs it (scripts/test runs it)")
    ready = subprocess.run(
        [*PODMAN, "run", "--rm", "--network=host", "docker.io/library/python:3.11-slim", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ready.returncode != 0:
        pytest.skip(f"podman cannot run containers here: {ready.stderr.strip()[-300:]}")
    tag = f"localhost/exeunt-test:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    podman("build", "--pull=never", "--network=host", "--format", "docker", "-t", tag, str(ROOT), timeout=600)
    size = int(podman("image", "inspect", tag, "--format", "{{.Size}}").strip())
    print(f"\nimage built in {time.monotonic() - started:.0f} s: {size / 1e6:.0f} MB")
    yield tag
    podman("rmi", "-f", tag, check=False)


class Containers:
    """The containers a test starts, removed when it ends."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.names: list[str] = []
        self.volumes: list[str] = []

    def run(self, name: str, env: dict[str, str], *command: str, extra: tuple[str, ...] = ()) -> str:
        name = f"exeunt-{name}-{uuid.uuid4().hex[:6]}"
        flags = [f"-e{k}={v}" for k, v in env.items()]
        podman("run", "-d", "--name", name, "--hostname", name, "--network=host", "--no-healthcheck",
               *flags, *extra, self.image, *command)  # fmt: skip
        self.names.append(name)
        return name

    def volume(self) -> str:
        name = f"exeunt-data-{uuid.uuid4().hex[:6]}"
        podman("volume", "create", name)
        self.volumes.append(name)
        return name

    def exec(self, name: str, *command: str, stdin: str | None = None) -> str:
        flags = ["-i"] if stdin is not None else []
        return podman("exec", *flags, name, *command, stdin=stdin)

    def cleanup(self) -> None:
        for name in self.names:
            podman("rm", "-f", name, check=False)
        for volume in self.volumes:
            podman("volume", "rm", "-f", volume, check=False)


@pytest.fixture
def containers(image: str) -> Iterator[Containers]:
    made = Containers(image)
    yield made
    made.cleanup()


def healthy(containers: Containers, name: str) -> bool:
    done = subprocess.run([*PODMAN, "exec", name, "exeunt", "healthcheck"], capture_output=True, text=True, timeout=30)
    return done.returncode == 0


def wait_healthy(containers: Containers, name: str, what: str) -> None:
    """Until the container's own health check passes (a loaded machine starts it slowly); its log if never."""
    try:
        wait_until(lambda: healthy(containers, name), timeout=120, interval=0.5, what=what)
    except AssertionError as exc:
        logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True, timeout=30)
        raise AssertionError(f"{exc}; its log ends:\n{(logs.stdout + logs.stderr)[-2000:]}") from None


def add_client(containers: Containers, name: str, rp: RecordingRp) -> str:
    out = containers.exec(name, "exeunt", "clients", "add", rp.client_id, "--redirect-uri", rp.redirect_uri,
                          "--backchannel-logout-uri", rp.base + "/bc")  # fmt: skip
    return out.split("client_secret: ")[1].split()[0]


def test_the_image_on_sqlite_read_only_with_a_volume(containers: Containers, receivers: list[RecordingRp]) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_ISSUER": issuer, "EXEUNT_PORT": str(port)}  # the image's command, another port
    data = containers.volume()
    name = containers.run("sqlite", env, extra=("--read-only", "-v", f"{data}:/data"))
    wait_healthy(containers, name, "the container to answer its health check")
    assert containers.exec(name, "id", "-u").strip() == "10001"  # not root
    assert "user alice added" in containers.exec(name, "exeunt", "users", "add", "alice", "--password-stdin",
                                                  stdin=PASSWORD + "\n")  # fmt: skip
    rp = RecordingRp("notes")
    receivers.append(rp)
    rp.start(issuer, add_client(containers, name, rp))
    browser = Browser(Remote(issuer))
    try:
        client = Rp("notes", rp.redirect_uri, rp.secret)
        assert exchange(Remote(issuer), client, browser.sign_in(client)).status_code == 200
        sign_out(browser)
        [event] = rp.wait_for("backchannel", timeout=30)
        assert "logout_token=" in event.data["body"]
    finally:
        browser.close()
    started = time.monotonic()
    podman("stop", "-t", "10", name)  # SIGTERM: drains within the grace period
    assert time.monotonic() - started < 10
    # The data lives in the volume: a new container on it knows alice.
    again = containers.run("sqlite2", env, extra=("--read-only", "-v", f"{data}:/data"))
    wait_healthy(containers, again, "the second container")
    assert "alice" in containers.exec(again, "exeunt", "users", "list")


def test_the_compose_topology_on_postgresql_loses_nothing_when_a_worker_is_killed(
    containers: Containers, postgresql_template: PostgresTemplate, receivers: list[RecordingRp], tmp_path: Path
) -> None:
    url = postgresql_template.fresh(tmp_path)
    ports = [free_port(), free_port()]
    issuer = f"http://127.0.0.1:{ports[0]}"
    env = {
        "EXEUNT_ISSUER": issuer,
        "EXEUNT_DATABASE_URL": url,
        "EXEUNT_SECRET_KEY": "s" * 48,
        "EXEUNT_BACKCHANNEL_TIMEOUT": "2",
        "EXEUNT_ALLOWED_HOSTS": f"127.0.0.1:{ports[1]}",
    }
    try:
        migrate = containers.run("migrate", env, "exeunt", "migrate")
        assert podman("wait", migrate, timeout=120).strip() == "0"  # once, before the rest
        idps = [
            containers.run(f"idp{i}", {**env, "EXEUNT_PORT": str(port)}, "exeunt", "serve", "--no-worker")
            for i, port in enumerate(ports)
        ]
        workers = [containers.run(f"worker{i}", env, "exeunt", "worker") for i in range(2)]
        for name in (*idps, *workers):  # one health check for both roles
            wait_healthy(containers, name, f"{name} healthy")
        containers.exec(idps[0], "exeunt", "users", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        rp = RecordingRp("billing")
        receivers.append(rp)
        rp.state.mode = "hang"  # deliveries stay in flight until the worker holding them is killed
        rp.start(issuer, add_client(containers, idps[0], rp))
        client = Rp("billing", rp.redirect_uri, rp.secret)
        browsers = []
        for port in ports:  # sign-ins through both providers
            remote = Remote(issuer, f"http://127.0.0.1:{port}")
            browser = Browser(remote)
            browsers.append(browser)
            assert exchange(remote, client, browser.sign_in(client)).status_code == 200
        for browser in browsers:
            sign_out(browser)
            browser.close()
        rp.wait_for("backchannel", count=2, timeout=30)  # both in flight, at the hanging receiver
        podman("kill", "-s", "KILL", workers[0])
        rp.state.mode = "200"
        wait_until(
            lambda: sum(1 for e in rp.events("backchannel") if e.data["mode"] == "200") >= 2,
            timeout=60,
            what="both logout tokens delivered by the surviving worker",
        )
        started = time.monotonic()
        podman("stop", "-t", "10", workers[1])
        assert time.monotonic() - started < 10
    finally:
        postgresql_template.drop(url)
