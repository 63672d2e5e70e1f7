"""Reading a seed file (TOML) strictly: every value has the type and size it must have.

A mistake is reported as one sentence naming the file, the entry, the key, its line and the fix;
nothing is written unless the whole file is valid.  ``public = "false"`` (a string) is an error,
never a truthy value that would register a confidential client as public.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exeunt.errors import RegistrationError, SeedError
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.registration import build_client, check_chosen_secret

USER_KEYS = ("username", "password", "email", "name")
CLIENT_KEYS = (
    "client_id",
    "name",
    "secret",
    "public",
    "redirect_uris",
    "post_logout_redirect_uris",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "grant_types",
    "allow_offline_access",
    "rotate_refresh_tokens",
    "scopes",
    "all_subjects",
)
MAX_USERNAME = 200
MAX_PASSWORD = 1024
MAX_EMAIL = 320
MAX_NAME = 200
MIN_PASSWORD = 8


def check_user_fields(username: str, password: str, email: str | None, name: str | None) -> None:
    """The rules every new or seeded user follows (raises ``ValueError`` with the fix)."""
    if not username or len(username) > MAX_USERNAME or any(c.isspace() or ord(c) < 0x20 for c in username):
        raise ValueError(f"a username is 1 to {MAX_USERNAME} characters without spaces")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if email is not None and (len(email) > MAX_EMAIL or "@" not in email or any(c.isspace() for c in email)):
        raise ValueError(f"an email is an address of at most {MAX_EMAIL} characters")
    if name is not None and (not name.strip() or len(name) > MAX_NAME or any(ord(c) < 0x20 for c in name)):
        raise ValueError(f"a name is 1 to {MAX_NAME} characters")


@dataclass(frozen=True)
class SeedUser:
    username: str
    password: str
    email: str | None
    name: str | None


@dataclass(frozen=True)
class SeedClient:
    record: ClientRecord
    secret: str | None


@dataclass(frozen=True)
class Seed:
    users: list[SeedUser]
    clients: list[SeedClient]


class _Entry:
    """One ``[[users]]`` or ``[[clients]]`` table, read key by key with its type checked."""

    def __init__(self, where: str, data: dict[str, Any], lines: list[str]) -> None:
        self.where = where
        self.data = data
        self.lines = lines

    def fail(self, key: str | None, message: str) -> SeedError:
        line = _line_of(self.lines, key, self.data) if key else None
        at = f" (line {line})" if line else ""
        return SeedError(f"{self.where}{f', {key}' if key else ''}{at}: {message}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a quoted string (got {_kind(value)})")
        return value

    def flag(self, key: str, *, default: bool = False) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false without quotes (got {_kind(value)})")
        return value

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(
                key, f'must be a list of quoted strings, such as ["https://app.example/cb"] (got {_kind(value)})'
            )
        return value

    def only(self, known: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in known:
                hint = _closest(key, known)
                raise self.fail(key, f"is not a known key{f'; did you mean {hint}?' if hint else ''}")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _closest(key: str, known: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, known, n=1)
    return found[0] if found else None


def _line_of(lines: list[str], key: str, data: dict[str, Any]) -> int | None:
    """The line that sets ``key`` in this entry (found by its key and, when it has one, its id)."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    anchor = data.get("client_id") or data.get("username")
    start = 0
    if isinstance(anchor, str):
        for number, line in enumerate(lines):
            if re.match(rf'^\s*(client_id|username)\s*=\s*["\']{re.escape(anchor)}["\']', line):
                start = number
                while start > 0 and not lines[start].lstrip().startswith("[["):
                    start -= 1
                break
    for number in range(start, len(lines)):
        if pattern.match(lines[number]):
            return number + 1
    return None


def _array_of_tables(data: dict[str, Any], name: str, file: str) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SeedError(f"{file}: {name} must be written as [[{name}]] tables, one per entry")
    return value


def read_seed(path: Path) -> Seed:
    file = f"seed file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SeedError(f"cannot read {file}: {exc}") from exc
    lines = text.splitlines()
    for key in data:
        if key not in ("users", "clients"):
            raise SeedError(f"{file}: {key!r} is not a known section; use [[users]] and [[clients]]")
    users = [
        _user(_Entry(f"{file}, users[{i + 1}]", e, lines)) for i, e in enumerate(_array_of_tables(data, "users", file))
    ]
    clients = [
        _client(_Entry(f"{file}, clients[{i + 1}]", e, lines))
        for i, e in enumerate(_array_of_tables(data, "clients", file))
    ]
    return Seed(users, clients)


def _user(entry: _Entry) -> SeedUser:
    entry.only(USER_KEYS)
    username = entry.text("username", required=True) or ""
    password = entry.text("password", required=True) or ""
    email, name = entry.text("email"), entry.text("name")
    try:
        check_user_fields(username, password, email, name)
    except ValueError as exc:
        raise entry.fail(None, str(exc)) from None
    return SeedUser(username, password, email, name)


def _client(entry: _Entry) -> SeedClient:
    entry.only(CLIENT_KEYS)
    client_id = entry.text("client_id", required=True) or ""
    public = entry.flag("public")
    secret = entry.text("secret")
    if not public and not secret:
        raise entry.fail("secret", "is required for a confidential client (or set public = true)")
    if public and secret:
        raise entry.fail("secret", "must not be set for a public client")
    try:
        if secret:
            check_chosen_secret(secret)
        redirect_uris = entry.texts("redirect_uris")
        signs_people_in = ["authorization_code"] if redirect_uris else []
        record = build_client(
            client_id=client_id,
            name=entry.text("name"),
            redirect_uris=redirect_uris,
            public=public,
            token_endpoint_auth_method=entry.text("token_endpoint_auth_method"),
            post_logout_redirect_uris=entry.texts("post_logout_redirect_uris"),
            frontchannel_logout_uri=entry.text("frontchannel_logout_uri"),
            frontchannel_logout_session_required=entry.flag("frontchannel_logout_session_required"),
            backchannel_logout_uri=entry.text("backchannel_logout_uri"),
            backchannel_logout_session_required=entry.flag("backchannel_logout_session_required"),
            id_token_signed_response_alg=entry.text("id_token_signed_response_alg"),
            grant_types=[*signs_people_in, *entry.texts("grant_types")],
            allow_offline_access=entry.flag("allow_offline_access"),
            rotate_refresh_tokens=entry.flag("rotate_refresh_tokens", default=True),
            scopes=entry.texts("scopes"),
            all_subjects=entry.flag("all_subjects"),
        )
    except RegistrationError as exc:
        raise entry.fail(None, str(exc)) from None
    return SeedClient(record, secret)
