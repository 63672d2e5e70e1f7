"""The cookies of the provider's origin.

* ``exeunt_session`` names the SSO session: the signed ``sid`` (itsdangerous), ``HttpOnly``,
  ``SameSite=Lax``, ``Path=/``, ``Secure`` when the issuer is https.  Possession alone proves
  nothing: the session row must still be live.
* ``exeunt_device`` (signed, ``HttpOnly``): this browser signed in to an account before (a hash
  of the account and a nonce); its wrong passwords count against itself only, so strangers
  guessing at the account cannot lock it out.
* ``exeunt_bs`` is the Session Management browser state: random, readable by script (the
  check_session iframe hashes it), identifies nobody, changed on sign-in and sign-out and never
  deleted, so that "no cookie visible" (third-party storage blocked) differs from "signed out".
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from exeunt.config import Config
from exeunt.security import new_token

SESSION_COOKIE = "exeunt_session"
BROWSER_STATE_COOKIE = "exeunt_bs"
LOGIN_COOKIE = "exeunt_login"
DEVICE_COOKIE = "exeunt_device"
DEVICE_MAX_AGE = 400 * 24 * 3600
BROWSER_STATE_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers allow


class Cookies:
    def __init__(self, config: Config, secret_key: str) -> None:
        self.secure = config.secure_cookies
        self._signer = URLSafeSerializer(secret_key, salt="exeunt.session")
        self._device_signer = URLSafeSerializer(secret_key, salt="exeunt.device")

    # -- the SSO session ---------------------------------------------------------------
    def read_sid(self, request: Request) -> str | None:
        """The sid in a correctly signed session cookie, or None (a tampered cookie is no cookie)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            sid = self._signer.loads(raw)
        except BadSignature:
            return None
        return sid if isinstance(sid, str) else None

    def signed_sid(self, sid: str) -> str:
        """The cookie value naming ``sid`` (any instance sharing the secret key accepts it)."""
        return str(self._signer.dumps(sid))

    def set_session(self, response: Response, sid: str) -> None:
        response.set_cookie(
            SESSION_COOKIE, self.signed_sid(sid), path="/", httponly=True, samesite="lax", secure=self.secure
        )

    def clear_session(self, response: Response) -> None:
        """Same name, path and attributes as when set, with ``Max-Age=0``."""
        response.set_cookie(
            SESSION_COOKIE, "", max_age=0, expires=0, path="/", httponly=True, samesite="lax", secure=self.secure
        )

    # -- Session Management browser state ------------------------------------------------
    @staticmethod
    def read_browser_state(request: Request) -> str | None:
        return request.cookies.get(BROWSER_STATE_COOKIE) or None

    def set_browser_state(self, response: Response, value: str | None = None) -> str:
        value = value or new_token(16)
        # SameSite=None is needed for the iframe to see it inside an RP page, and browsers accept
        # that only with Secure; on an http issuer (development) Lax is all browsers allow.
        response.set_cookie(
            BROWSER_STATE_COOKIE,
            value,
            max_age=BROWSER_STATE_MAX_AGE,
            path="/",
            httponly=False,
            samesite="none" if self.secure else "lax",
            secure=self.secure,
        )
        return value

    # -- login-form CSRF binding ---------------------------------------------------------
    @staticmethod
    def read_login_binding(request: Request) -> str | None:
        return request.cookies.get(LOGIN_COOKIE) or None

    def set_login_binding(self, response: Response, value: str) -> None:
        response.set_cookie(LOGIN_COOKIE, value, path="/", httponly=True, samesite="lax", secure=self.secure)

    # -- the device cookie: a browser that signed in to an account before ----------------
    def read_device(self, request: Request) -> tuple[str, str] | None:
        """(account digest, nonce) of a correctly signed device cookie, or None."""
        raw = request.cookies.get(DEVICE_COOKIE)
        if not raw:
            return None
        try:
            value = self._device_signer.loads(raw)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            return None
        return value[0], value[1]

    def set_device(self, response: Response, account: str) -> None:
        """A fresh device cookie for ``account`` (a new nonce on every sign-in), HttpOnly, long-lived."""
        value = str(self._device_signer.dumps([account, new_token(16)]))
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=DEVICE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )
