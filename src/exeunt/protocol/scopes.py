"""Scope rules: a refresh may narrow the granted scope, never widen it (RFC 6749 §6); offline_access
only for clients allowed it (OIDC Core §11)."""

from __future__ import annotations

MAX_SCOPE_VALUES = 50
# What an operator may grant a client for the client-credentials grant (never asked of a person):
# the Shared Signals API (CAEP Interoperability Profile §3.5.2) and Global Token Revocation.
SERVICE_SCOPES = ("ssf.manage", "ssf.read", "global_token_revocation")


def narrowed_scope(requested: str | None, granted: str) -> str:
    """The scope of a refresh: the granted one when none is asked, else the asked subset (raises
    ``ValueError`` naming what was not granted)."""
    if requested is None:
        return granted
    asked = list(dict.fromkeys(requested.split()))
    if not asked or len(asked) > MAX_SCOPE_VALUES:
        raise ValueError("scope must name at least one of the granted values")
    extra = [s for s in asked if s not in granted.split()]
    if extra:
        raise ValueError(f"scope may only narrow the grant; not granted: {' '.join(extra)[:200]}")
    return " ".join(asked)


def granted_scope(requested: list[str], *, offline_allowed: bool) -> list[str]:
    """Core §11: offline_access is ignored for a client not allowed it (exeunt has no consent screen:
    every client is registered by an operator, who decides by ``allow_offline_access``)."""
    return [s for s in requested if s != "offline_access" or offline_allowed]
