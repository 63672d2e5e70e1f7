"""Session Management 1.0 §3.2: the ``session_state`` value and its check.

``base64url(SHA-256(client_id + " " + origin + " " + browser_state + " " + salt)) + "." + salt``.
The check_session iframe computes the same thing in JavaScript (templates/check_session.html).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from exeunt.security import b64url


def session_state(client_id: str, origin: str, browser_state: str, salt: str | None = None) -> str:
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hashlib.sha256(f"{client_id} {origin} {browser_state} {salt}".encode()).digest()
    return f"{b64url(digest)}.{salt}"


def matches(value: str, client_id: str, origin: str, browser_state: str) -> bool:
    _, _, salt = value.rpartition(".")
    return hmac.compare_digest(session_state(client_id, origin, browser_state, salt), value)
