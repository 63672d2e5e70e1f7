"""How each ``EXEUNT_*`` value is read and checked: one parser per kind of value, and ``Setting``,
one environment variable's definition.  A bad value is one sentence naming the variable and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exeunt.errors import ConfigError, KeyFileError
from exeunt.protocol.urls import is_loopback_host

Parse = Callable[[str, str], Any]  # (variable name, raw value) -> value, or ConfigError


def whole(minimum: int = 1, maximum: int | None = None) -> Parse:
    def parse(name: str, raw: str) -> int:
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{name} must be a whole number {bound} (got {raw!r}); set it to one or unset it.")
        return value

    return parse


def processes(name: str, raw: str) -> int:
    """``auto`` (0: one per core this process may run on) or a whole number of processes."""
    if raw.strip().lower() == "auto":
        return 0
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else None
    if value is None or not 1 <= value <= 64:
        raise ConfigError(f"{name} must be auto or a whole number from 1 to 64 (got {raw!r}).")
    return value


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
