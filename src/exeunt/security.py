"""Secrets at rest and in forms: password and client-secret hashes, random tokens, CSRF tokens.

Passwords are chosen by people, so they get scrypt (memory-hard, 32 MiB per check).  Client secrets
are at least 32 random bytes (or a chosen value of at least 32 characters), so a salted SHA-256 is
enough to keep a leaked table useless while keeping the token endpoint fast.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random string carrying ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_session_id() -> str:
    """A session id: 192 random bits, URL-safe, never starting with "-" (an operator types it as a
    command-line argument, which would otherwise read as an option)."""
    for _ in range(64):  # each draw starts with "-" once in 64: this loop ends at once in practice
        sid = secrets.token_urlsafe(24)
        if not sid.startswith("-"):
            return sid
    return "s" + secrets.token_urlsafe(24)[1:]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(digest_hex) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


@functools.cache
def dummy_password_hash() -> str:
    """Checked against when the username is unknown, so both failures cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


def hash_client_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    return f"sha256${salt}${hashlib.sha256((salt + secret).encode()).hexdigest()}"


def verify_client_secret(secret: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    candidate = hashlib.sha256((salt + secret).encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


def csrf_token(key: str, purpose: str, binding: str) -> str:
    """A token only this installation can make, for one form purpose and one binding (a sid, a cookie)."""
    mac = hmac.new(key.encode(), f"{purpose}\x00{binding}".encode(), hashlib.sha256).digest()
    return b64url(mac)


def check_csrf(key: str, purpose: str, binding: str, token: str | None) -> bool:
    """Constant-time, on bytes: a token with non-ASCII characters is simply wrong, never an error."""
    if not token or not binding:
        return False
    return hmac.compare_digest(csrf_token(key, purpose, binding).encode(), token.encode("utf-8", "replace"))
