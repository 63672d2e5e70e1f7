"""What a newcomer and third-party client libraries hit (issue 12), each kept fixed by a test."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cli import exeunt
from tests.support.flows import Browser, Rp, continue_from, exchange, sign_out, verify_id_token
from tests.support.idp import Idp
from tests.support.process import ExeuntProcess
from tests.support.rp import RecordingRp
from tests.support.servers import free_port
from tests.support.sessions import logout_token_of, receiver, sign_in_to

CB = "http://localhost:9/cb"


def test_a_client_registered_for_es256_gets_es256_tokens_on_a_default_install(
    idp_sqlite: Idp, receivers: list[RecordingRp]
) -> None:
    """Item 1: a key per algorithm from the first start; id_tokens and logout tokens never fall back."""
    idp = idp_sqlite
    idp.add_user("alice")
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert sorted(k["alg"] for k in idp.jwks()["keys"]) == ["ES256", "RS256"]
    ec_app = RecordingRp("ec-app")
    receivers.append(ec_app)
    secret = idp.add_client(
        "ec-app", [ec_app.redirect_uri], id_token_signed_response_alg="ES256", **ec_app.metadata(backchannel=True)
    )
    ec_app.start(idp.issuer, secret)
    rs_app = receiver(idp, receivers, "rs-app")
    browser = Browser(idp)
    sign_in_to(idp, browser, [rs_app])
    client = Rp("ec-app", ec_app.redirect_uri, secret)
    id_token = exchange(idp, client, browser.sign_in(client)).json()["id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "ES256"
    sid = verify_id_token(idp, id_token, "ec-app")["sid"]
    sign_out(browser)
    for rp, alg in ((ec_app, "ES256"), (rs_app, "RS256")):
        [event] = rp.wait_for("backchannel")
        header, claims = logout_token_of(idp, event.data["body"], rp.client_id)
        assert header["alg"] == alg and claims["sid"] == sid
    browser.close()


def test_a_client_algorithm_the_key_files_lack_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Item 1: with operator-supplied PEM keys, registering an algorithm they lack is refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "rsa.pem").write_bytes(pem)
    env = {"EXEUNT_SIGNING_KEY_FILES": str(tmp_path / "rsa.pem")}
    refused = exeunt(
        "clients", "add", "ec-app", "--redirect-uri", CB, "--id-token-signed-response-alg", "ES256",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "no ES256 key in EXEUNT_SIGNING_KEY_FILES (it has RS256)" in refused.stderr, refused.stderr
    accepted = exeunt("clients", "add", "rs-app", "--redirect-uri", CB, cwd=tmp_path, env=env)
    assert accepted.returncode == 0, accepted.stderr


def test_the_way_back_to_the_application_waits_for_its_logout_token_even_without_script(
    idp_sqlite: Idp, receivers: list[RecordingRp]
) -> None:
    """Items 3 and 5: "Continue to Notes" goes through the provider, which answers 303 (with state)
    only once Notes has its logout token; the page says what it waits for and names the app."""
    idp = idp_sqlite
    idp.add_user("alice")
    notes = receiver(idp, receivers, "notes", mode="slow")  # its back-channel answers after 0.3 s
    idp.add_client("quiet", [CB], secret="q" * 40)  # no logout URI at all
    browser = Browser(idp)
    sign_in_to(idp, browser, [notes])
    browser.sign_in(Rp("quiet", CB, "q" * 40))
    _, answer = sign_out(browser, client_id="notes", post_logout_redirect_uri=notes.base + "/bye", state="s1")
    done = browser.http.get(idp.url(answer.headers["location"]))
    assert ">Continue to Notes</a>" in done.text
    assert "You go back to Notes as soon as" in done.text and "in at most 5 seconds" in done.text
    assert "Quiet will notice that you signed out" in done.text
    assert "front-" not in done.text and "back-channel" not in done.text  # no jargon for people
    # A browser without script (or any HTTP client) follows the link at once: it must not arrive first.
    continued = continue_from(browser, done)
    assert continued == notes.base + "/bye?state=s1"
    arrived = httpx.get(continued)
    assert arrived.status_code == 200
    [token] = notes.events("backchannel")
    [back] = notes.events("post_logout")
    assert back.at - token.at >= 0.25, "the user reached Notes before Notes had answered its logout token"
    browser.close()


def test_the_way_back_waits_no_longer_than_the_logout_wait(idp_sqlite: Idp, receivers: list[RecordingRp]) -> None:
    """Item 3: bounded by EXEUNT_LOGOUT_WAIT counted from the sign-out, whatever the client does."""
    idp = idp_sqlite
    idp.add_user("alice")
    notes = receiver(idp, receivers, "notes", mode="hang")
    browser = Browser(idp)
    sign_in_to(idp, browser, [notes])
    _, answer = sign_out(browser, client_id="notes", post_logout_redirect_uri=notes.base + "/bye")
    done = browser.http.get(idp.url(answer.headers["location"]))
    notes.wait_for("backchannel")
    idp.travel(idp.config.logout_wait)  # the wait is over: no further waiting at the provider
    assert continue_from(browser, done) == notes.base + "/bye"
    bogus = browser.http.get(idp.url("/logout/continue/" + "A" * 43))
    assert bogus.status_code == 200 and "Nobody is signed in" in bogus.text  # never a redirect to anywhere
    browser.close()


def test_userinfo_takes_the_access_token_from_a_form_body_but_never_two_ways(idp_sqlite: Idp) -> None:
    """Item 2: RFC 6750 §2.2 (pyoidc's default userinfo call sends it so); §2: one way only; never the query."""
    idp = idp_sqlite
    idp.add_user("alice")
    rp = Rp("notes", CB, idp.add_client("notes", [CB]))
    browser = Browser(idp)
    token = exchange(idp, rp, browser.sign_in(rp, scope="openid profile")).json()["access_token"]
    body = httpx.post(idp.url("/userinfo"), data={"access_token": token})
    assert body.status_code == 200 and body.json()["preferred_username"] == "alice"
    both = httpx.post(idp.url("/userinfo"), data={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    query = httpx.get(idp.url("/userinfo"), params={"access_token": token})
    assert query.status_code == 401
    browser.close()


def test_an_empty_post_to_the_end_session_endpoint_is_no_parameters(idp_sqlite: Idp) -> None:
    """Item 4: an empty body without Content-Type is a request without parameters, not an error."""
    answer = httpx.post(idp_sqlite.url("/logout"), content=b"")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/logout?r=")
    page = httpx.get(idp_sqlite.url(answer.headers["location"]))
    assert page.status_code == 200 and "Nobody is signed in" in page.text


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


class _Served:
    """The provider as a separate ``exeunt serve`` process, for the helpers that take an Idp."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def url(self, path: str) -> str:
        return self.issuer + path


def test_the_walkthrough_word_for_word_ends_with_a_sign_out(tmp_path: Path) -> None:
    """Item 16: the README's five-minute walkthrough, its commands as written, through the sign-out."""
    callback, home = "http://localhost:3000/callback", "http://localhost:3000/"
    assert exeunt("users", "add", "alice", "--email", "alice@example.org", "--password-stdin",
                  cwd=tmp_path, stdin="walkthrough-pw\n").returncode == 0  # fmt: skip
    added = exeunt("clients", "add", "my-app", "--name", "My App", "--redirect-uri", callback,
                   "--post-logout-redirect-uri", home, cwd=tmp_path)  # fmt: skip
    secret = added.stdout.split("client_secret: ")[1].split()[0]
    port = free_port()
    served = _Served(f"http://127.0.0.1:{port}")
    server = ExeuntProcess(["serve", "--port", str(port)], {}, tmp_path, tmp_path / "serve.log")
    browser = Browser(served)  # type: ignore[arg-type]
    try:
        server.wait_healthy(served.issuer)
        app = Rp("my-app", callback, secret)
        answer = exchange(served, app, browser.sign_in(app, password="walkthrough-pw", scope="openid profile"))  # type: ignore[arg-type]
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
