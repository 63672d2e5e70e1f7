"""When and why a session ends: the vocabulary and the deadline rules, pure (no I/O, no clock reads).

A session ends by its absolute lifetime (``expires_at``), by idleness (no activity for the idle
timeout, when one is set), or by a person, an operator or another event; every ending goes through
``signout.sign_out`` with one of these reasons.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class EndReason(StrEnum):
    """Why a session ended: on the sign-out record, the logout token (``exeunt_reason``), the log
    line, ``exeunt_signouts_total{reason}`` and ``exeunt sessions``."""

    USER = "user"  # the person signed out at the provider, not sent by an application
    RP_INITIATED = "rp_initiated"  # an application sent the person to sign out (RP-Initiated Logout)
    EXPIRED = "expired"  # the absolute lifetime (EXEUNT_SESSION_LIFETIME) passed
    IDLE = "idle"  # no activity for EXEUNT_SESSION_IDLE_TIMEOUT
    OTHER_DEVICE = "other_device"  # signed out from another browser of the same person
    ADMIN = "admin"  # an operator (CLI or admin API)
    PASSWORD_CHANGED = "password_changed"
    USER_REMOVED = "user_removed"  # the user was removed or disabled
    REPLACED = "replaced"  # a new sign-in in the same browser
    REVOKED = "revoked"  # Global Token Revocation: a security tool ended every session of the person


def deadline_passed(
    *, expires_at: datetime, last_active_at: datetime, idle_timeout: int | None, now: datetime
) -> EndReason | None:
    """EXPIRED or IDLE when the session is past a deadline at ``now`` (the absolute one wins), else None."""
    if now >= expires_at:
        return EndReason.EXPIRED
    if idle_timeout and now >= last_active_at + timedelta(seconds=idle_timeout):
        return EndReason.IDLE
    return None


def device_summary(user_agent: str | None) -> str:
    """A person's words for a User-Agent: "Firefox on Windows", "Chrome on Android", "curl"."""
    ua = (user_agent or "").lower()
    if not ua:
        return "Unknown device"
    browsers = (
        ("edg/", "Edge"),
        ("opr/", "Opera"),
        ("firefox/", "Firefox"),
        ("chromium/", "Chromium"),
        ("chrome/", "Chrome"),
        ("headlesschrome", "Chrome"),
        ("safari/", "Safari"),
        ("curl/", "curl"),
        ("python-httpx", "httpx"),
    )
    systems = (
        ("android", "Android"),
        ("iphone", "iPhone"),
        ("ipad", "iPad"),
        ("windows", "Windows"),
        ("mac os x", "macOS"),
        ("cros", "ChromeOS"),
        ("linux", "Linux"),
    )
    browser = next((name for token, name in browsers if token in ua), "A browser")
    system = next((name for token, name in systems if token in ua), None)
    return f"{browser} on {system}" if system else browser
