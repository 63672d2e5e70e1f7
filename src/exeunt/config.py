"""Settings: read once from ``EXEUNT_*`` environment variables and validated at start-up.

Every problem is reported as one sentence that names the variable and says how to fix it
(``ConfigError``); nothing else in exeunt reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

SIGNING_ALGS = ("RS256", "ES256")


class ConfigError(ValueError):
    """A setting has a value exeunt cannot start with; the message names the variable and the fix."""


@dataclass(frozen=True)
class Setting:
    """One documented environment variable (the README's configuration table is generated from these)."""

    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "EXEUNT_ISSUER",
        "http://HOST:PORT of `exeunt serve`",
        "Public base URL of the provider; every URL it publishes starts with it. Use https in production.",
    ),
    Setting(
        "EXEUNT_DATABASE_URL",
        "sqlite+aiosqlite:///./exeunt.db",
        "SQLAlchemy URL: `sqlite+aiosqlite:///PATH` or `postgresql+asyncpg://USER@HOST/DB`.",
    ),
    Setting(
        "EXEUNT_SECRET_KEY",
        "generated on first start, kept in the database",
        "Key for signing cookies and CSRF tokens, at least 32 characters; all instances must share it.",
    ),
    Setting("EXEUNT_SESSION_LIFETIME", "43200", "Seconds a single-sign-on session lasts after sign-in."),
    Setting("EXEUNT_SIGNING_ALG", "RS256", "id_token and logout-token signing algorithm: RS256 or ES256."),
    Setting("EXEUNT_ID_TOKEN_LIFETIME", "600", "Seconds an id_token is valid."),
    Setting("EXEUNT_ACCESS_TOKEN_LIFETIME", "3600", "Seconds an access token is valid."),
    Setting("EXEUNT_CODE_LIFETIME", "60", "Seconds an authorization code is valid (at most 60)."),
    Setting(
        "EXEUNT_LOGOUT_SKIP_CONFIRMATION",
        "false",
        "`true` lets a valid id_token_hint for the current session skip the sign-out question "
        "(the sign-out is still a POST).",
    ),
    Setting(
        "EXEUNT_LOGOUT_WAIT",
        "5",
        "Seconds the logged-out page waits for front-channel iframes (and the initiating client's "
        "back-channel delivery) before following post_logout_redirect_uri.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_TIMEOUT",
        "5",
        "Seconds one back-channel POST may take in all (connect, send, answer) before it counts as failed.",
    ),
    Setting(
        "EXEUNT_BACKCHANNEL_MAX_AGE", "86400", "Seconds a back-channel notification is retried before it is given up."
    ),
    Setting("EXEUNT_BACKCHANNEL_CONCURRENCY", "128", "Back-channel POSTs in flight at once, per worker."),
    Setting("EXEUNT_BACKCHANNEL_PER_HOST", "8", "Back-channel POSTs in flight at once to one host, per worker."),
    Setting(
        "EXEUNT_BACKCHANNEL_ALLOW_PRIVATE",
        "true when the issuer is on loopback, else false",
        "Whether back-channel URIs may reach loopback and private addresses (checked on the address "
        "actually connected).",
    ),
    Setting("EXEUNT_LOGOUT_TOKEN_LIFETIME", "120", "Seconds a logout token is valid (its exp)."),
    Setting(
        "EXEUNT_LOGOUT_TOKEN_TYP",
        "logout+jwt",
        "JOSE typ header of logout tokens: logout+jwt, or JWT for clients that reject explicit typing.",
    ),
    Setting("EXEUNT_MAX_BODY_BYTES", "65536", "Largest request body accepted; larger ones get 413."),
    Setting(
        "EXEUNT_SEED_FILE",
        "(none)",
        "TOML file of users and clients loaded idempotently at start-up and by `exeunt seed`.",
    ),
    Setting("EXEUNT_DB_POOL_SIZE", "10", "Database connections per process (PostgreSQL)."),
    Setting("EXEUNT_DB_POOL_TIMEOUT", "10", "Seconds to wait for a free database connection."),
    Setting("EXEUNT_LOG_LEVEL", "info", "debug, info, warning or error."),
    Setting("EXEUNT_LOG_FORMAT", "text", "text (one readable line per event) or json (one JSON object per line)."),
    Setting(
        "EXEUNT_TRUSTED_PROXIES",
        "(none)",
        "Comma-separated addresses of TLS-terminating proxies whose X-Forwarded-Proto/For are trusted, or * for any.",
    ),
    Setting("EXEUNT_METRICS_TOKEN", "(none)", "When set, /metrics requires Authorization: Bearer with this value."),
    Setting(
        "EXEUNT_KEY_ROTATION_DELAY",
        "600",
        "Seconds between publishing a rotated-in key in the JWKS and signing with it (exeunt keys rotate).",
    ),
    Setting(
        "EXEUNT_SIGNING_KEY_FILES",
        "(none: keys live in the database)",
        "Comma-separated PEM private key files (RSA or P-256); the first signs. Replaces database keys.",
    ),
)


@dataclass(frozen=True)
class Config:
    """The validated settings of one exeunt process."""

    issuer: str
    database_url: str = "sqlite+aiosqlite:///./exeunt.db"
    secret_key: str | None = None
    session_lifetime: int = 43200
    signing_alg: str = "RS256"
    id_token_lifetime: int = 600
    access_token_lifetime: int = 3600
    code_lifetime: int = 60
    logout_skip_confirmation: bool = False
    logout_wait: float = 5.0
    max_body_bytes: int = 65536
    backchannel_timeout: float = 5.0
    backchannel_max_age: int = 86400
    backchannel_concurrency: int = 128
    backchannel_per_host: int = 8
    backchannel_allow_private: bool = False
    logout_token_lifetime: int = 120
    logout_token_typ: str = "logout+jwt"
    seed_file: Path | None = None
    db_pool_size: int = 10
    db_pool_timeout: float = 10.0
    log_level: str = "info"
    log_format: str = "text"
    trusted_proxies: tuple[str, ...] = ()
    metrics_token: str | None = None
    key_rotation_delay: int = 600
    signing_key_files: tuple[Path, ...] = ()

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (``path`` starts with ``/``)."""
        return self.issuer + path


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _int(name: str, raw: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be a whole number {bound} (got {raw!r}); set it to one or unset it.")
    return value


def _float(name: str, raw: str, *, minimum: float = 0.0, maximum: float = 3600.0) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not (minimum <= value <= maximum):
        raise ConfigError(
            f"{name} must be a number of seconds between {minimum:g} and {maximum:g} (got {raw!r}); "
            "set it to one or unset it."
        )
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false (got {raw!r}).")


def _issuer(raw: str) -> str:
    name = "EXEUNT_ISSUER"
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


def _database_url(raw: str) -> str:
    name = "EXEUNT_DATABASE_URL"
    if not (raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))):
        hint = ""
        if raw.startswith("postgres"):
            hint = " (write postgresql+asyncpg:// for PostgreSQL)"
        elif raw.startswith("sqlite"):
            hint = " (write sqlite+aiosqlite:///path/to/file.db for SQLite)"
        raise ConfigError(f"{name} must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (got {raw!r}){hint}.")
    return raw


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ConfigError(
            "EXEUNT_SECRET_KEY must be at least 32 characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, "
            "or unset it to have one kept in the database."
        )
    return raw


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {raw!r}).")
    return raw


def load_config(environ: Mapping[str, str] | None = None, *, default_issuer: str = "http://127.0.0.1:8000") -> Config:
    """Build a ``Config`` from ``environ`` (default ``os.environ``), raising ``ConfigError`` on the first bad value."""
    env = os.environ if environ is None else environ
    known = {s.name for s in SETTINGS}
    unknown = sorted(k for k in env if k.startswith("EXEUNT_") and k not in known)
    if unknown:
        raise ConfigError(
            f"{unknown[0]} is not an exeunt setting; remove it or check the spelling against the README's table."
        )

    def get(name: str, parse: Callable[[str], T], default: T) -> T:
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        return parse(raw)

    seed = get("EXEUNT_SEED_FILE", Path, None)
    if seed is not None and not seed.is_file():
        raise ConfigError(
            f"EXEUNT_SEED_FILE names {str(seed)!r}, which is not a readable file; fix the path or unset it."
        )
    issuer = get("EXEUNT_ISSUER", _issuer, default_issuer.rstrip("/"))
    key_files = tuple(Path(p.strip()) for p in env.get("EXEUNT_SIGNING_KEY_FILES", "").split(",") if p.strip())
    for path in key_files:
        if not path.is_file():
            raise ConfigError(f"EXEUNT_SIGNING_KEY_FILES names {str(path)!r}, which is not a readable file.")
    return Config(
        issuer=issuer,
        database_url=get("EXEUNT_DATABASE_URL", _database_url, "sqlite+aiosqlite:///./exeunt.db"),
        secret_key=get("EXEUNT_SECRET_KEY", _secret_key, None),
        session_lifetime=get(
            "EXEUNT_SESSION_LIFETIME", lambda r: _int("EXEUNT_SESSION_LIFETIME", r, minimum=60), 43200
        ),
        signing_alg=get("EXEUNT_SIGNING_ALG", lambda r: _choice("EXEUNT_SIGNING_ALG", r, SIGNING_ALGS), "RS256"),
        id_token_lifetime=get(
            "EXEUNT_ID_TOKEN_LIFETIME", lambda r: _int("EXEUNT_ID_TOKEN_LIFETIME", r, minimum=30), 600
        ),
        access_token_lifetime=get(
            "EXEUNT_ACCESS_TOKEN_LIFETIME", lambda r: _int("EXEUNT_ACCESS_TOKEN_LIFETIME", r, minimum=30), 3600
        ),
        code_lifetime=get("EXEUNT_CODE_LIFETIME", lambda r: _int("EXEUNT_CODE_LIFETIME", r, minimum=5, maximum=60), 60),
        logout_skip_confirmation=get(
            "EXEUNT_LOGOUT_SKIP_CONFIRMATION", lambda r: _bool("EXEUNT_LOGOUT_SKIP_CONFIRMATION", r), False
        ),
        logout_wait=get("EXEUNT_LOGOUT_WAIT", lambda r: _float("EXEUNT_LOGOUT_WAIT", r, maximum=60), 5.0),
        max_body_bytes=get(
            "EXEUNT_MAX_BODY_BYTES", lambda r: _int("EXEUNT_MAX_BODY_BYTES", r, minimum=4096, maximum=10_000_000), 65536
        ),
        backchannel_timeout=get(
            "EXEUNT_BACKCHANNEL_TIMEOUT",
            lambda r: _float("EXEUNT_BACKCHANNEL_TIMEOUT", r, minimum=0.1, maximum=60),
            5.0,
        ),
        backchannel_max_age=get(
            "EXEUNT_BACKCHANNEL_MAX_AGE", lambda r: _int("EXEUNT_BACKCHANNEL_MAX_AGE", r, minimum=1), 86400
        ),
        backchannel_concurrency=get(
            "EXEUNT_BACKCHANNEL_CONCURRENCY", lambda r: _int("EXEUNT_BACKCHANNEL_CONCURRENCY", r, maximum=10000), 128
        ),
        backchannel_per_host=get(
            "EXEUNT_BACKCHANNEL_PER_HOST", lambda r: _int("EXEUNT_BACKCHANNEL_PER_HOST", r, maximum=10000), 8
        ),
        backchannel_allow_private=get(
            "EXEUNT_BACKCHANNEL_ALLOW_PRIVATE",
            lambda r: _bool("EXEUNT_BACKCHANNEL_ALLOW_PRIVATE", r),
            is_loopback_host(urlsplit(issuer).hostname or ""),
        ),
        logout_token_lifetime=get(
            "EXEUNT_LOGOUT_TOKEN_LIFETIME",
            lambda r: _int("EXEUNT_LOGOUT_TOKEN_LIFETIME", r, minimum=10, maximum=3600),
            120,
        ),
        logout_token_typ=get(
            "EXEUNT_LOGOUT_TOKEN_TYP",
            lambda r: _choice("EXEUNT_LOGOUT_TOKEN_TYP", r, ("logout+jwt", "JWT")),
            "logout+jwt",
        ),
        seed_file=seed,
        db_pool_size=get("EXEUNT_DB_POOL_SIZE", lambda r: _int("EXEUNT_DB_POOL_SIZE", r, maximum=1000), 10),
        db_pool_timeout=get("EXEUNT_DB_POOL_TIMEOUT", lambda r: _float("EXEUNT_DB_POOL_TIMEOUT", r, minimum=0.1), 10.0),
        log_format=get(
            "EXEUNT_LOG_FORMAT", lambda r: _choice("EXEUNT_LOG_FORMAT", r.lower(), ("text", "json")), "text"
        ),
        trusted_proxies=tuple(p.strip() for p in env.get("EXEUNT_TRUSTED_PROXIES", "").split(",") if p.strip()),
        metrics_token=env.get("EXEUNT_METRICS_TOKEN") or None,
        key_rotation_delay=get(
            "EXEUNT_KEY_ROTATION_DELAY",
            lambda r: _int("EXEUNT_KEY_ROTATION_DELAY", r, minimum=0, maximum=30 * 86400),
            600,
        ),
        signing_key_files=key_files,
        log_level=get(
            "EXEUNT_LOG_LEVEL",
            lambda r: _choice("EXEUNT_LOG_LEVEL", r.lower(), ("debug", "info", "warning", "error")),
            "info",
        ),
    )
