"""Settings: read once from ``EXEUNT_*`` environment variables and validated at start-up.

Each setting is defined once, in ``SETTINGS``: its variable, its ``Config`` field, its default, how
it is parsed and checked, and its help (the README's configuration table is checked against it).
Every problem is reported as one sentence that names the variable and says how to fix it
(``ConfigError``); nothing else in exeunt reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exeunt.config.settings import LOOPBACK_ISSUER, SETTINGS, SIGNING_ALGS
from exeunt.config.values import Setting
from exeunt.errors import ConfigError
from exeunt.protocol.urls import is_loopback_host

__all__ = ["LOOPBACK_ISSUER", "SETTINGS", "SIGNING_ALGS", "Config", "Setting", "load_config"]


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
    port: int
    http_max_connections: int
    processes: int  # 0: one per core (serving.process_count)
    worker_nice: int
    worker_backlog_share: int
    log_level: str
    log_format: str
    trusted_proxies: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    admin_token: str | None
    registration: str
    console: bool
    default_locale: str
    metrics_token: str | None
    key_rotation_delay: int
    signing_key_files: tuple[Path, ...]

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (``path`` starts with ``/``)."""
        return self.issuer + path


def load_config(environ: Mapping[str, str] | None = None, *, default_issuer: str = "http://127.0.0.1:{port}") -> Config:
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
        values["issuer"] = default_issuer.replace("{port}", str(values["port"])).rstrip("/")
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
