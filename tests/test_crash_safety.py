"""A sign-out survives the provider being killed before it could deliver (the outbox is in SQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.flows import Browser, Rp, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.test_cli_and_config import exeunt

pytestmark = pytest.mark.slow


class _Remote:
    """Enough of the Idp interface for Browser, for a provider running as a separate process."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def url(self, path: str) -> str:
        return self.issuer + path


def test_sigkill_after_sign_out_loses_no_notification(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"EXEUNT_DATABASE_URL": database_url, "EXEUNT_ISSUER": issuer, "EXEUNT_BACKCHANNEL_TIMEOUT": "1"}
    rp = RecordingRp("billing")  # bound but not listening: connections are refused
    added = exeunt(
        "clients",
        "add",
        "billing",
        "--redirect-uri",
        rp.redirect_uri,
        "--backchannel-logout-uri",
        rp.base + "/bc",
        "--backchannel-logout-session-required",
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    assert (
        exeunt(
            "users", "add", "alice", "--password-stdin", cwd=tmp_path, env=env, stdin="correct horse battery\n"
        ).returncode
        == 0
    )

    first = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "first.log").wait_healthy(issuer)
    browser = Browser(_Remote(issuer))  # type: ignore[arg-type]
    try:
        client = Rp("billing", rp.redirect_uri, secret)
        assert exchange(_Remote(issuer), client, browser.sign_in(client)).status_code == 200  # type: ignore[arg-type]
        _, answer = sign_out(browser)
        assert answer.status_code == 303
    finally:
        first.kill()  # while the receiver still refuses: the token was never delivered
    assert "outcome=retry" in first.output() or "outcome" not in first.output()
    assert not rp.events("backchannel")

    rp.start(issuer, secret)
    second = ExeuntProcess(["serve", "--port", str(port)], env, tmp_path, tmp_path / "second.log")
    try:
        second.wait_healthy(issuer)
        [event] = rp.wait_for("backchannel", timeout=30)
        assert "logout_token=" in event.data["body"]
    finally:
        assert second.terminate() == 0
        rp.stop()
        browser.close()
