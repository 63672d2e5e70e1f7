"""The README's five-minute walkthrough, word for word, ends with a sign-out."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import exeunt
from tests.support.flows import Browser, Remote, Rp, continue_from, exchange, sign_out
from tests.support.process import ExeuntProcess
from tests.support.servers import free_port

CB = "http://localhost:9/cb"


def test_the_walkthrough_word_for_word_ends_with_a_sign_out(tmp_path: Path) -> None:
    """Item 16: the README's five-minute walkthrough, its commands as written, through the sign-out."""
    callback, home = "http://localhost:3000/callback", "http://localhost:3000/"
    assert exeunt("users", "add", "alice", "--email", "alice@example.org", "--password-stdin",
                  cwd=tmp_path, stdin="walkthrough-pw\n").returncode == 0  # fmt: skip
    added = exeunt("clients", "add", "my-app", "--name", "My App", "--redirect-uri", callback,
                   "--post-logout-redirect-uri", home, cwd=tmp_path)  # fmt: skip
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    port = free_port()
    served = Remote(f"http://127.0.0.1:{port}")
    server = ExeuntProcess(["serve", "--port", str(port)], {}, tmp_path, tmp_path / "serve.log")
    browser = Browser(served)
    try:
        server.wait_healthy(served.issuer)
        app = Rp("my-app", callback, secret)
        answer = exchange(served, app, browser.sign_in(app, password="walkthrough-pw", scope="openid profile"))
        id_token = answer.json()["id_token"]
        listed = exeunt("sessions", "list", cwd=tmp_path).stdout
        [row] = listed.splitlines()[1:]
        sid = row.split("\t")[0]
        assert "\talice\t" in row and row.endswith("\tMy App"), listed

        page, confirmed = sign_out(browser, id_token_hint=id_token, post_logout_redirect_uri=home, state="bye")
        assert "Sign out of exeunt?" in page.text and "My App" in page.text
        done = browser.http.get(served.url(confirmed.headers["location"]))
        assert "You are signed out" in done.text
        words = " ".join(done.text.split())
        assert "My App will notice that you signed out the next time it checks or you open it." in words
        assert ">Continue to My App</a>" in done.text
        assert continue_from(browser, done) == home + "?state=bye"
        shown_run = exeunt("sessions", "show", sid, cwd=tmp_path)
        shown = shown_run.stdout + shown_run.stderr
        assert "state:        rp_initiated" in shown and "applications: My App" in shown, shown
    finally:
        browser.close()
        server.terminate()
