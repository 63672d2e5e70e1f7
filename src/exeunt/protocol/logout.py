"""RP-Initiated Logout 1.0 (§2–§4) request validation, and Front-Channel Logout 1.0 §2 URLs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from exeunt.languages import from_ui_locales
from exeunt.protocol.clients import ClientLookup, ClientRecord
from exeunt.protocol.identifiers import is_client_id
from exeunt.protocol.urls import add_query
from exeunt.tokens.id_token import HintClaims, HintInvalid, verify_id_token_hint
from exeunt.tokens.keys import KeyRing
from exeunt.words import N_

MAX_STATE_LENGTH = 2048
MAX_HINT_LENGTH = 16384


@dataclass(frozen=True)
class LogoutRequest:
    """A logout request after validation.  When ``problem`` is set every other field but ``ui_locales`` is empty:
    RIL §4, information that failed validation MUST NOT be used."""

    client_id: str | None = None
    client_name: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    hint_sid: str | None = None
    hint_sub: str | None = None
    problem: str | None = None  # for developers: the rule broken (shown collapsed, and logged)
    plainly: str | None = None  # for the person: what happened, in plain words
    ui_locales: str | None = None  # RIL §2: the language the pages speak (kept even when refused)

    def redirect_target(self) -> str | None:
        """RIL §3: the validated post-logout URI with ``state`` (and nothing else) added."""
        if self.post_logout_redirect_uri is None:
            return None
        return add_query(self.post_logout_redirect_uri, {"state": self.state})

    def hint_names(self, sid: str, sub: str) -> bool:
        """The id_token_hint was issued in session ``sid`` to ``sub`` (so it names the session to end)."""
        return self.hint_sid == sid and self.hint_sub == sub


UNUSABLE = N_("The application sent a sign-out request exeunt cannot use.")


def refused(message: str, plainly: str = UNUSABLE) -> LogoutRequest:
    return LogoutRequest(problem=message, plainly=plainly)


def _check_hint(raw: str, ring: KeyRing, issuer: str, now: datetime) -> HintClaims:
    """RIL §2: the OP MUST validate that it was the issuer of the ID Token; an expired one is accepted
    ("the OP SHOULD accept ID Tokens ... even when the exp time has passed")."""
    if len(raw) > MAX_HINT_LENGTH:
        raise HintInvalid("it is far too long to be an id_token from this provider")
    return verify_id_token_hint(raw, ring, issuer=issuer, now=now)


async def validate_logout_request(
    params: Mapping[str, str], *, ring: KeyRing, issuer: str, now: datetime, lookup: ClientLookup
) -> LogoutRequest:
    """RIL §2–3.  ``ui_locales`` is read as a preference only: the first supported language, kept
    (bounded) for the pages that follow; an unsupported one is ignored."""
    checked = await _validate(params, ring=ring, issuer=issuer, now=now, lookup=lookup)
    return replace(checked, ui_locales=from_ui_locales(params.get("ui_locales")))


async def _validate(
    params: Mapping[str, str], *, ring: KeyRing, issuer: str, now: datetime, lookup: ClientLookup
) -> LogoutRequest:
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        return refused("state is too long.")
    hint: HintClaims | None = None
    client: ClientRecord | None = None
    raw_hint = params.get("id_token_hint")
    if raw_hint is not None:
        try:
            hint = _check_hint(raw_hint, ring, issuer, now)
        except HintInvalid as exc:
            return refused(
                f"id_token_hint invalid: {exc}.", N_("The application sent a sign-out request exeunt cannot check.")
            )
        client = await lookup(hint.client_id)
        if client is None:
            return refused(
                "id_token_hint invalid: the application it was issued to is no longer registered.",
                N_("The application that sent you here is no longer registered."),
            )
    client_id = params.get("client_id")
    if client_id is not None:
        if hint is not None and client_id != hint.client_id:
            # RIL §2: when both are present the OP MUST verify that they match.
            return refused("client_id does not match the application the id_token_hint was issued to.")
        if client is None:
            client = await lookup(client_id) if is_client_id(client_id) else None
            if client is None:
                return refused(
                    "client_id is not a registered application.",
                    N_("The application that sent you here is not known here."),
                )
    redirect = params.get("post_logout_redirect_uri")
    if redirect is not None:
        if client is None:
            # RIL §3: without id_token_hint (or client_id) the target cannot be confirmed as legitimate.
            return refused(
                "post_logout_redirect_uri was sent without id_token_hint or client_id, so exeunt "
                "cannot tell which application it belongs to.",
                N_("An application asked to send you to an address without saying which application it is."),
            )
        if redirect not in client.post_logout_redirect_uris:
            # RIL §3: the OP MUST NOT perform post-logout redirection unless it exactly matches.
            return refused(
                f"post_logout_redirect_uri not registered for {client.name}.",
                N_("This application asked to send you to an address it never registered."),
            )
    return LogoutRequest(
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        post_logout_redirect_uri=redirect,
        state=state if redirect is not None else None,
        hint_sid=hint.sid if hint else None,
        hint_sub=hint.sub if hint else None,
    )


def frontchannel_url(client: ClientRecord, issuer: str, sid: str) -> str | None:
    """FCL §2: the registered URI with its query kept; ``iss`` and ``sid`` (both) added when the
    client registered ``frontchannel_logout_session_required``.  None without a front-channel URI."""
    uri = client.frontchannel_logout_uri
    if not uri:
        return None
    if not client.frontchannel_logout_session_required:
        return uri
    return add_query(uri, {"iss": issuer, "sid": sid})
