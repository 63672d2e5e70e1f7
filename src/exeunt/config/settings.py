"""Every ``EXEUNT_*`` setting, defined once: variable, ``Config`` field, default, parser and help
(the README's configuration table is checked against this list)."""

from __future__ import annotations

from exeunt.config.values import (
    Setting,
    admin_token,
    choice,
    database_url,
    flag,
    issuer_url,
    processes,
    readable_file,
    seconds,
    secret_key,
    signing_key_files,
    text,
    text_list,
    whole,
)
from exeunt.languages import SUPPORTED

SIGNING_ALGS = ("RS256", "ES256")
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
        "EXEUNT_PORT",
        "port",
        8000,
        whole(1, 65535),
        "The port `exeunt serve` listens on (unless --port says otherwise), and the one `exeunt healthcheck` "
        "probes: set it once, in a container's environment, and both follow.",
    ),
    Setting(
        "EXEUNT_PROCESSES",
        "processes",
        0,
        processes,
        "Processes `exeunt serve` runs, sharing its port: auto (one per core on PostgreSQL, one on SQLite) or "
        "1 to 64. One of them runs the delivery worker (unless --no-worker).",
        "auto",
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
        "EXEUNT_REGISTRATION",
        "registration",
        "off",
        choice("off", "token", "open", lower=True),
        "Dynamic Client Registration (RFC 7591) at /register: off (404); token (an initial access token from "
        "`exeunt registration token create`); open (anyone may register; logged as a warning at start).",
    ),
    Setting(
        "EXEUNT_DEFAULT_LOCALE",
        "default_locale",
        "en",
        choice(*SUPPORTED, lower=True),
        "The language of pages when neither the application's ui_locales nor the browser's Accept-Language "
        "names a supported one: " + ", ".join(SUPPORTED) + ".",
    ),
    Setting(
        "EXEUNT_CONSOLE",
        "console",
        False,
        flag,
        "The operator console at /console/ (on/off): signed-in users granted `exeunt users grant-operator` see "
        "where every sign-out went and requeue given-up notifications; off, every /console/ path is 404.",
        "off",
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
