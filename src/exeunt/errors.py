"""Every error exeunt raises on purpose, in one tree: one base, then a branch per kind of caller.

Each carries a public ``description`` (what the caller is told) and, optionally, a private
``detail`` that goes only to the log (node-oidc-provider's ``error_description`` beside its
``error_detail``).  Nothing here knows HTTP frameworks: ``web/errors.py`` turns these into
responses (JSON for machines, a page for a person), and the CLI prints ``description``.

::

    ExeuntError                 description (shown), detail (logged only)
    ├── OAuthError              RFC 6749 §5.2 / OIDC Core: ``error`` code, HTTP status, headers → JSON
    │   ├── BearerError         RFC 6750 §3: a protected resource refuses the access token
    │   ├── RegistrationError   RFC 7591 §3.2.2: client metadata that breaks a rule (CLI, seed, HTTP)
    │   └── RedirectError       OIDC Core §3.1.2.6: sent back to the verified redirect URI with state
    │                           (defined beside the client record, in protocol/authorization.py)
    ├── ApiError                a JSON API of exeunt's (admin, Shared Signals, Global Token
    │                           Revocation): an HTTP status and a short code
    ├── PageError               shown to a person: a title and plain words
    └── OperatorError           an operator's command or setting cannot be carried out
        ├── ConfigError         a setting (EXEUNT_*) exeunt cannot start with
        ├── SeedError           a seed file that cannot be applied
        └── KeyFileError        a PEM key file exeunt cannot sign with

Errors that never leave the process (a refused outbound address, an invalid id_token_hint) are
``ExeuntError`` too, so one ``except ExeuntError`` sees every deliberate refusal.
"""

from __future__ import annotations

from typing import Any


class ExeuntError(Exception):
    """A deliberate refusal.  ``description`` is safe to show; ``detail`` goes only to the log."""

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail

    def __str__(self) -> str:
        return self.description


# -- OAuth and OpenID Connect (RFC 6749 §5.2, RFC 6750 §3, RFC 7591 §3.2.2) ---------------------
class OAuthError(ExeuntError):
    """An error with an OAuth / OpenID Connect ``error`` code, as the token, revocation, introspection,
    registration and userinfo endpoints answer it: ``{"error", "error_description"}`` with ``status``."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.error = error
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str, status: int = 400) -> OAuthError:
    return OAuthError("invalid_request", description, status)


def invalid_client(description: str) -> OAuthError:
    """RFC 6749 §5.2: 401 with a challenge for the scheme the client tried (Basic here)."""
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="exeunt"'})


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


class BearerError(OAuthError):
    """RFC 6750 §3: no token (401, no error code), ``invalid_request`` (400), ``invalid_token`` (401)
    or ``insufficient_scope`` (403, naming the scope needed); the challenge says which."""

    def __init__(self, error: str | None, description: str, *, scope: str | None = None, realm: str = "exeunt") -> None:
        status = {None: 401, "invalid_request": 400, "invalid_token": 401, "insufficient_scope": 403}[error]
        challenge = f'Bearer realm="{realm}"'
        if error:
            challenge += f', error="{error}", error_description="{description}"'
        if scope:
            challenge += f', scope="{scope}"'
        super().__init__(error or "invalid_request", description, status, {"WWW-Authenticate": challenge})


class RegistrationError(OAuthError):
    """Client metadata that breaks a rule; the description names the field (RFC 7591 §3.2.2:
    ``invalid_redirect_uri`` for a redirect URI, ``invalid_client_metadata`` for anything else)."""

    def __init__(self, description: str, *, error: str = "invalid_client_metadata") -> None:
        super().__init__(error, description)


# -- exeunt's own JSON APIs --------------------------------------------------------------------
class ApiError(ExeuntError):
    """A JSON API's refusal (admin API, Shared Signals management and polling, Global Token
    Revocation): ``status`` with ``{"error": code, "error_description": description}``."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


def not_found(description: str) -> ApiError:
    return ApiError(404, "not_found", description)


# -- a person -----------------------------------------------------------------------------------
class PageError(ExeuntError):
    """Shown to a person as a page: ``title`` and plain words in ``description``."""

    def __init__(self, title: str, description: str, status: int = 400, *, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.title = title
        self.status = status

    @property
    def message(self) -> str:
        return self.description


# -- an operator --------------------------------------------------------------------------------
class OperatorError(ExeuntError):
    """An operator's request (a command, a setting, a file) that cannot be carried out; the
    description says why and what to do."""


class ConfigError(OperatorError):
    """A setting has a value exeunt cannot start with; the description names the variable and the fix."""


class SeedError(OperatorError):
    """The seed file cannot be applied; the description says where and how to fix it."""


class KeyFileError(OperatorError):
    """A PEM key file exeunt cannot sign with; the description names the problem and the fix."""
