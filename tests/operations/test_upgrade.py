"""An upgrade from the previous release as operators do it on PostgreSQL, with sign-outs pending and
retrying: the previous release serves; this release's `exeunt migrate` runs while it does (every
migration is expand-only, so the older code keeps working on the new schema: it signs people in and
out after the migration); this release's provider and worker start, the previous ones stop (a
rolling restart); every notification arrives, and none twice after an application accepted it."""

from __future__ import annotations

import asyncio
import subprocess
import tarfile
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest

from tests.support.cli import exeunt, register_with_cli
from tests.support.databases import PG_HOST_URL, PostgresTemplate, _pg_execute
from tests.support.flows import Browser, Remote, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = "v0.2.0"
PREVIOUS_COMMIT = "2b93de435a125e34ad278c60a28fa7f954260725"  # the same, for a clone without tags
PASSWORD = "correct horse battery"


def previous_release(into: Path) -> Path:
    """The previous release's source tree, from this repository's history."""
    for ref in (PREVIOUS, PREVIOUS_COMMIT):
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                               cwd=ROOT, capture_output=True, text=True, timeout=30)  # fmt: skip
        if found.returncode == 0:
            archive = into / "previous.tar"
            subprocess.run(["git", "archive", "--output", str(archive), found.stdout.strip()], cwd=ROOT,
                           check=True, timeout=60)  # fmt: skip
            with tarfile.open(archive) as tar:
                tar.extractall(into / "previous", filter="data")
            return into / "previous"
    pytest.fail(f"{PREVIOUS} is not in this clone's history: clone with history (not --depth 1) and tags")


def _sid(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def test_an_upgrade_from_the_previous_release_loses_no_notification(
    postgresql_template: PostgresTemplate, tmp_path: Path, receivers: list[RecordingRp]
) -> None:
    old_src = previous_release(tmp_path) / "src"
    database = f"{PG_HOST_URL}/exeunt_u_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{database.rsplit("/", 1)[1]}"'))
    ports = [free_port(), free_port()]
    issuer = f"http://127.0.0.1:{ports[0]}"
    env = {
        "EXEUNT_ISSUER": issuer,
        "EXEUNT_DATABASE_URL": database,
        "EXEUNT_SECRET_KEY": "u" * 48,
        "EXEUNT_ALLOWED_HOSTS": f"127.0.0.1:{ports[1]}",
        "EXEUNT_BACKCHANNEL_TIMEOUT": "2",
    }
    # The previous release's code, this machine's packages; it knows no EXEUNT_PROCESSES (and refuses
    # settings it does not know).
    old: dict[str, str | None] = {**env, "PYTHONPATH": str(old_src), "EXEUNT_PROCESSES": None}
    processes: list[ExeuntProcess] = []

    def start(name: str, environment: dict[str, str | None], *args: str) -> ExeuntProcess:
        process = ExeuntProcess(list(args), environment, tmp_path, tmp_path / f"{name}.log")
        processes.append(process)
        return process

    browsers: list[Browser] = []
    try:
        assert exeunt("migrate", cwd=tmp_path, env=old).returncode == 0
        client = register_with_cli("billing", issuer, cwd=tmp_path, env=old, password=PASSWORD, receivers=receivers)
        rp = receivers[-1]
        old_idp = start("old-serve", old, "serve", "--port", str(ports[0]), "--no-worker").wait_healthy(issuer)
        old_worker = start("old-worker", old, "worker")
        provider = Remote(issuer)
        sids: list[str] = []

        def sign_in() -> Browser:
            browser = Browser(provider)
            browsers.append(browser)
            answer = exchange(provider, client, browser.sign_in(client, password=PASSWORD))
            assert answer.status_code == 200, answer.text
            sids.append(_sid(answer.json()["id_token"]))
            return browser

        first, second, third = sign_in(), sign_in(), sign_in()
        rp.state.mode = "503"  # billing is down: the first sign-out's notification retries
        sign_out(first)
        rp.wait_for("backchannel", timeout=30)

        migrated = exeunt("migrate", cwd=tmp_path, env=env)  # this release, while the previous one serves
        assert migrated.returncode == 0, migrated.stderr
        sign_out(second)  # the previous release, on the migrated schema
        after = sign_in()  # and signs in
        wait_until(lambda: len({_sid(parse_qs(e.data["body"])["logout_token"][0]) for e in rp.events("backchannel")})
                   >= 2, timeout=30, what="the previous release's worker to try the second notification")  # fmt: skip

        # The rolling restart: this release's provider and worker start, then the previous ones stop.
        new_idp = start("new-serve", env, "serve", "--port", str(ports[1]), "--no-worker")
        new_idp.wait_healthy(f"http://127.0.0.1:{ports[1]}")
        start("new-worker", env, "worker")
        assert old_worker.terminate() == 0 and old_idp.terminate() == 0
        rp.state.mode = "200"  # billing is back
        provider.base = f"http://127.0.0.1:{ports[1]}"
        sign_out(third)
        sign_out(after)

        def delivered() -> Counter[str]:
            ok = [e for e in rp.events("backchannel") if e.data["mode"] == "200"]
            return Counter(_sid(parse_qs(e.data["body"])["logout_token"][0]) for e in ok)

        wait_until(lambda: set(delivered()) == set(sids), timeout=60, what="every notification to arrive")
        assert all(n == 1 for n in delivered().values()), delivered()  # none twice once accepted
        status = exeunt("deliveries", cwd=tmp_path, env=env)
        assert status.returncode == 0 and "given_up" not in status.stdout
    finally:
        for process in processes:
            process.terminate()
        for browser in browsers:
            browser.close()
        postgresql_template.drop(database)
