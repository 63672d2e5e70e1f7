"""Settings: read once from ``EXEUNT_*`` environment variables and validated at start-up.

Each setting is defined once, in ``SETTINGS``: its variable, its ``Config`` field, its default, how
it is parsed and checked, and its help (the README's configuration table is checked against it).
Every problem is reported as one sentence that names the variable and says how to fix it
(``ConfigError``); nothing else in exeunt reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exeunt.errors import ConfigError, KeyFileError
from exeunt.protocol.urls import is_loopback_host

SIGNING_ALGS = ("RS256", "ES256")


Parse = Callable[[str, str], Any]  # (variable name, raw value) -> value, or ConfigError


def whole(minimum: int = 1, maximum: int | None = None) -> Parse:
    def parse(name: str, raw: str) -> int:
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{name} must be a whole number {bound} (got {raw!r}); set it to one or unset it.")
        return value

    return parse


def seconds(minimum: float = 0.0, maximum: float = 3600.0) -> Parse:
    def parse(name: str, raw: str) -> float:
        try:
            value: float | None = float(raw) if raw.isascii() else None
        except ValueError:
            value = None
        if value is None or not (minimum <= value <= maximum):
            raise ConfigError(
                f"{name} must be a number of seconds between {minimum:g} and {maximum:g} (got {raw!r}); "
                "set it to one or unset it."
            )
        return value

    return parse


def flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false (got {raw!r}).")


def choice(*choices: str, lower: bool = False) -> Parse:
    def parse(name: str, raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {raw!r}).")
        return value

    return parse


def issuer_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute http(s) URL such as https://id.example.com (got {raw!r}).")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise ConfigError(f"{name} must not have a query or fragment (got {raw!r}); remove everything after the path.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{name} uses http on a non-loopback host (got {raw!r}); use https, or terminate TLS in a proxy "
            "and give the public https URL here."
        )
    return raw.rstrip("/")


def database_url(name: str, raw: str) -> str:
    if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        hint = ""
        if raw.startswith("postgres"):
            hint = " (write postgresql+asyncpg:// for PostgreSQL)"
        elif raw.startswith("sqlite"):
            hint = " (write sqlite+aiosqlite:///path/to/file.db for SQLite)"
        raise ConfigError(f"{name} must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (got {raw!r}){hint}.")
    return raw


def secret_key(name: str, raw: str) -> str:
    if len(raw) < 32:
        raise ConfigError(
            f"{name} must be at least 32 characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, "
            "or unset it to have one kept in the database."
        )
    return raw


def admin_token(name: str, raw: str) -> str:
    if len(raw) < 32:
        raise ConfigError(
            f"{name} must be at least 32 characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it to turn the admin API off."
        )
    return raw


def readable_file(name: str, raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"{name} names {raw!r}, which is not a readable file; fix the path or unset it.")
    return path


def signing_key_files(name: str, raw: str) -> tuple[Path, ...]:
    """Readable PEM private keys exeunt can sign with: each file is loaded and checked now."""
    from exeunt.tokens.keys import load_key_file

    paths = tuple(readable_file(name, p.strip()) for p in raw.split(",") if p.strip())
    for path in paths:
        try:
            load_key_file(str(path))
        except KeyFileError as exc:
            raise ConfigError(f"{name} names {str(path)!r}, which {exc}.") from None
    return paths


def text_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def text(name: str, raw: str) -> str:
    return raw


@dataclass(frozen=True)
class Setting:
    """One environment variable: the ``Config`` field it sets, its default, its parser and its help."""

    name: str
    field: str
    default: Any
    parse: Parse
    help: str
    shown_default: str = ""  # what the README shows when the default is not a plain value

    @property
    def documented_default(self) -> str:
        if self.shown_default:
            return self.shown_default
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


LOOPBACK_ISSUER = object()  # marks a default that depends on the issuer

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "EXEUNT_ISSUER",
        "issuer",
        None,
        issuer_url,
        "Public base URL of the provider; every URL it publishes starts with it. Use https in production.",
        "http://HOST:PORT of `exeunt serve`",
    ),
    Setting(
        "EXEUNT_DATABASE_URL",
        "database_url",
        "sqlite+aiosqlite:///./exeunt.db",
        database_url,
        "SQLAlchemy URL: `sqlite+aiosqlite:///PATH` or `postgresql+asyncpg://USER@HOST/DB`.",
    ),
    Setting(
        "EXEUNT_SECRET_KEY",
        "secret_key",
        None,
        secret_key,
        "Key for signing cookies and CSRF tokens, at least 32 characters; all instances must share it.",
        "generated on first start, kept in the database",
    ),
    Setting(
        "EXEUNT_SESSION_LIFETIME", "session_lifetime", 43200, whole(60), "Seconds an SSO session lasts after sign-in."
    ),
    Setting(
        "EXEUNT_SESSION_IDLE_TIMEOUT",
        "session_idle_timeout",
        0,
        whole(0, 366 * 86400),
        "Seconds without activity (sign-in, a code served from the session) after which an SSO session "
        "ends; 0 turns it off.",
    ),
    Setting(
        "EXEUNT_SESSION_SWEEP_INTERVAL",
        "session_sweep_interval",
        30,
        whole(1, 3600),
        "Seconds between the worker's sweeps for sessions past their deadline (they end within this).",
    ),
    Setting(
        "EXEUNT_SIGNING_ALG",
        "signing_alg",
        "RS256",
        choice(*SIGNING_ALGS),
        "id_token and logout-token signing algorithm: RS256 or ES256.",
    ),
    Setting("EXEUNT_ID_TOKEN_LIFETIME", "id_token_lifetime", 600, whole(30), "Seconds an id_token is valid."),
    Setting(
        "EXEUNT_ACCESS_TOKEN_LIFETIME", "access_token_lifetime", 3600, whole(30), "Seconds an access token is valid."
    ),
    Setting(
        "EXEUNT_REFRESH_TOKEN_LIFETIME",
        "refresh_token_lifetime",
        2592000,
        whole(60, 366 * 86400),
        "Seconds a refresh-token grant lasts in all (rotation keeps this end), 30 days by default.",
    ),
    Setting(
        "EXEUNT_REFRESH_TOKEN_IDLE",
        "refresh_token_idle",
        604800,
        whole(60, 366 * 86400),
        "Seconds a refresh token may go unused before it expires, 7 days by default.",
    ),
    Setting(
        "EXEUNT_REFRESH_TOKEN_REUSE_GRACE",
        "refresh_token_reuse_grace",
        10,
        whole(0, 300),
        "Seconds after a rotation in which presenting the old refresh token again is a race (invalid_grant), "
        "not theft (which revokes the whole grant).",
    ),
    Setting(
        "EXEUNT_CODE_LIFETIME",
        "code_lifetime",
        60,
        whole(5, 60),
        "Seconds an authorization code is valid (at most 60).",
    ),
    Setting(
        "EXEUNT_LOGOUT_SKIP_CONFIRMATION",
        "logout_skip_confirmation",
        False,
        flag,
        "`true` lets a valid id_token_hint for the current session skip the sign-out question "
        "(the sign-out is still a POST).",
    ),
    Setting(
        "EXEUNT_LOGOUT_WAIT",
        "logout_wait",
        5.0,
        seconds(maximum=60),
        "Seconds the logged-out page waits for front-channel iframes (and the initiating client's "
        "back-channel delivery) before following post_logout_redirect_uri.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_TIMEOUT",
        "backchannel_timeout",
        5.0,
        seconds(0.1, 60),
        "Seconds one back-channel POST may take in all (connect, send, answer) before it counts as failed.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_MAX_AGE",
        "backchannel_max_age",
        86400,
        whole(1),
        "Seconds a back-channel notification is retried before it is given up.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_CONCURRENCY",
        "backchannel_concurrency",
        128,
        whole(1, 10000),
        "Back-channel POSTs in flight at once, per worker.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_PER_HOST",
        "backchannel_per_host",
        8,
        whole(1, 10000),
        "Back-channel POSTs in flight at once to one host, per worker.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_ALLOW_PRIVATE",
        "backchannel_allow_private",
        LOOPBACK_ISSUER,
        flag,
        "Whether back-channel URIs may reach loopback and private addresses (checked on the address "
        "actually connected).",
        "true if the issuer is on loopback, else false",
    ),
    Setting(
        "EXEUNT_LOGOUT_TOKEN_LIFETIME",
        "logout_token_lifetime",
        120,
        whole(10, 3600),
        "Seconds a logout token is valid (its exp).",
    ),
    Setting(
        "EXEUNT_LOGOUT_TOKEN_TYP",
        "logout_token_typ",
        "logout+jwt",
        choice("logout+jwt", "JWT"),
        "JOSE typ header of logout tokens: logout+jwt, or JWT for clients that reject explicit typing.",
    ),
    Setting(
        "EXEUNT_MAX_BODY_BYTES",
        "max_body_bytes",
        65536,
        whole(4096, 10_000_000),
        "Largest request body accepted; larger ones get 413.",
    ),
    Setting(
        "EXEUNT_SEED_FILE",
        "seed_file",
        None,
        readable_file,
        "TOML file of users and clients loaded idempotently at start-up and by `exeunt seed`.",
        "none",
    ),
    Setting(
        "EXEUNT_DB_POOL_SIZE", "db_pool_size", 10, whole(1, 1000), "Database connections per process (PostgreSQL)."
    ),
    Setting(
        "EXEUNT_DB_POOL_TIMEOUT",
        "db_pool_timeout",
        5.0,
        seconds(0.1, 60),
        "Seconds to wait for a free database connection before answering 503.",
    ),
    Setting(
        "EXEUNT_DB_STATEMENT_TIMEOUT",
        "db_statement_timeout",
        5.0,
        seconds(0.1, 300),
        "Seconds one SQL statement (or lock wait) may take before it is cancelled and the request answered 503.",
    ),
    Setting(
        "EXEUNT_REQUEST_TIMEOUT",
        "request_timeout",
        15.0,
        seconds(1, 300),
        "Seconds a request may take in all before it is answered 503 (a backstop behind the database deadlines).",
    ),
    Setting(
        "EXEUNT_HTTP_HEADER_TIMEOUT",
        "http_header_timeout",
        10.0,
        seconds(0.5, 300),
        "Seconds a client may take to send a request's line and headers before the connection is closed.",
    ),
    Setting(
        "EXEUNT_HTTP_MAX_CONNECTIONS",
        "http_max_connections",
        1000,
        whole(10, 100_000),
        "Connections (and requests in progress) one process serves at once; beyond it new ones get 503.",
    ),
    Setting(
        "EXEUNT_WORKER_NICE",
        "worker_nice",
        0,
        whole(0, 19),
        "How much `exeunt worker` yields the CPU to `exeunt serve` on a shared machine (Unix nice, 0-19). "
        "Raise it only where the worker keeps up: a starved worker outlives its leases and sends twice.",
    ),
    Setting(
        "EXEUNT_WORKER_BACKLOG_SHARE",
        "worker_backlog_share",
        20,
        whole(5, 100),
        "Percent of its time a worker may spend in the database and on the CPU while it works through a backlog "
        "(sessions expiring at once, a client back after an outage); the rest of the time it waits, "
        "longer when the database is busy. Lower leaves sign-ins more room and drains backlogs slower.",
    ),
    Setting(
        "EXEUNT_LOG_LEVEL",
        "log_level",
        "info",
        choice("debug", "info", "warning", "error", lower=True),
        "debug, info, warning or error.",
    ),
    Setting(
        "EXEUNT_LOG_FORMAT",
        "log_format",
        "text",
        choice("text", "json", lower=True),
        "text (one readable line per event) or json (one JSON object per line).",
    ),
    Setting(
        "EXEUNT_TRUSTED_PROXIES",
        "trusted_proxies",
        (),
        text_list,
        "Comma-separated addresses of TLS-terminating proxies whose X-Forwarded-Proto/For are trusted, or * for any.",
        "none",
    ),
    Setting(
        "EXEUNT_ALLOWED_HOSTS",
        "allowed_hosts",
        (),
        text_list,
        "Comma-separated extra host names requests may carry in Host (the issuer's is always allowed); others get 400.",
        "none",
    ),
    Setting(
        "EXEUNT_ADMIN_TOKEN",
        "admin_token",
        None,
        admin_token,
        "Bearer token of the admin API (/admin/...), at least 32 characters; unset, the API is off (404).",
        "none",
    ),
    Setting(
        "EXEUNT_METRICS_TOKEN",
        "metrics_token",
        None,
        text,
        "When set, /metrics requires Authorization: Bearer with this value.",
        "none",
    ),
    Setting(
        "EXEUNT_KEY_ROTATION_DELAY",
        "key_rotation_delay",
        600,
        whole(0, 30 * 86400),
        "Seconds between publishing a rotated-in key in the JWKS and signing with it (exeunt keys rotate).",
    ),
    Setting(
        "EXEUNT_SIGNING_KEY_FILES",
        "signing_key_files",
        (),
        signing_key_files,
        "Comma-separated PEM private key files (RSA or P-256); the first of each algorithm signs. "
        "Replaces database keys; clients can register only the algorithms given.",
        "none (keys live in the database)",
    ),
)


def _default(setting: Setting) -> Any:
    return None if setting.default is LOOPBACK_ISSUER else setting.default


@dataclass(frozen=True)
class Config:
    """The validated settings of one exeunt process; built only by ``load_config`` from ``SETTINGS``
    (defaults live there, not here)."""

    issuer: str
    database_url: str
    secret_key: str | None
    session_lifetime: int
    session_idle_timeout: int
    session_sweep_interval: int
    signing_alg: str
    id_token_lifetime: int
    access_token_lifetime: int
    code_lifetime: int
    refresh_token_lifetime: int
    refresh_token_idle: int
    refresh_token_reuse_grace: int
    logout_skip_confirmation: bool
    logout_wait: float
    backchannel_timeout: float
    backchannel_max_age: int
    backchannel_concurrency: int
    backchannel_per_host: int
    backchannel_allow_private: bool
    logout_token_lifetime: int
    logout_token_typ: str
    max_body_bytes: int
    seed_file: Path | None
    db_pool_size: int
    db_pool_timeout: float
    db_statement_timeout: float
    request_timeout: float
    http_header_timeout: float
    http_max_connections: int
    worker_nice: int
    worker_backlog_share: int
    log_level: str
    log_format: str
    trusted_proxies: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    admin_token: str | None
    metrics_token: str | None
    key_rotation_delay: int
    signing_key_files: tuple[Path, ...]

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (``path`` starts with ``/``)."""
        return self.issuer + path


def load_config(environ: Mapping[str, str] | None = None, *, default_issuer: str = "http://127.0.0.1:8000") -> Config:
    """Build a ``Config`` from ``environ`` (default ``os.environ``), raising ``ConfigError`` on the first bad value."""
    env = os.environ if environ is None else environ
    env = _renamed(env)
    known = {s.name for s in SETTINGS}
    unknown = sorted(k for k in env if k.startswith("EXEUNT_") and k not in known)
    if unknown:
        raise ConfigError(
            f"{unknown[0]} is not an exeunt setting; remove it or check the spelling against the README's table."
        )
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name)
        values[setting.field] = _default(setting) if raw is None or raw == "" else setting.parse(setting.name, raw)
    if values["issuer"] is None:
        values["issuer"] = default_issuer.rstrip("/")
    if values["backchannel_allow_private"] is None:
        values["backchannel_allow_private"] = is_loopback_host(urlsplit(values["issuer"]).hostname or "")
    return Config(**values)


# Settings renamed since they were first documented: the old name is still read (the new one wins).
RENAMED = {"EXEUNT_WORKER_DATABASE_SHARE": "EXEUNT_WORKER_BACKLOG_SHARE"}


def _renamed(env: Mapping[str, str]) -> Mapping[str, str]:
    if not any(old in env for old in RENAMED):
        return env
    current = {k: v for k, v in env.items() if k not in RENAMED}
    for old, new in RENAMED.items():
        if old in env:
            current.setdefault(new, env[old])
    return current


def _check_fields() -> None:
    """Every setting sets one field and every field has one setting: a mismatch fails at import."""
    if sorted(s.field for s in SETTINGS) != sorted(f.name for f in fields(Config)):
        raise AssertionError("SETTINGS and Config fields differ")


_check_fields()
