"""Global Token Revocation (draft-parecki-oauth-global-token-revocation): a security tool ends
everything a person has, everywhere.

In one transaction: every session of the person ends (reason ``revoked``, so every application
hears it by back-channel and every Shared Signals receiver by session-revoked, all with one
``txn``), and every refresh token (offline ones too) and access token of the person is revoked;
the next authorization needs a fresh sign-in.  A caller may revoke only the people who signed
in to its own client, unless an operator registered it for all subjects.
"""

from __future__ import annotations

import logging

from exeunt.errors import ApiError, not_found
from exeunt.lifecycle import EndReason
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.signals import Person
from exeunt.runtime import Runtime
from exeunt.security import new_token
from exeunt.signout import Ended, signing_out
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection
from exeunt.storage.users import UserRecord

log = logging.getLogger("exeunt.revocation")


async def _person(conn: Connection, person: Person | None) -> UserRecord:
    if person is not None and person.sub is not None:
        user = await user_store.get_by_sub(conn, person.sub)
        if user is not None:
            return user
    elif person is not None and person.email is not None:
        found = await user_store.by_email(conn, person.email)
        if len(found) > 1:  # §2.4 422: the request cannot be carried out as asked
            raise ApiError(422, "ambiguous_subject", "more than one person has that email; name them by iss_sub")
        if found:
            return found[0]
    raise not_found("no such person")


async def revoke_person(runtime: Runtime, caller: ClientRecord, person: Person | None) -> Ended:
    async with signing_out(runtime, txn=new_token(16)) as tx:
        user = await _person(tx.conn, person)
        if not caller.all_subjects and not await session_store.user_used_client(tx.conn, user.id, caller.client_id):
            raise not_found("no such person")  # the same answer as for nobody: no probing
        # Every session ends, and with it (reason revoked) every refresh token, offline ones too:
        await tx.end_user(user.id, EndReason.REVOKED)
        await grants.revoke_access_tokens_of_user(tx.conn, user.id, tx.now)
    log.warning(
        "global token revocation by client=%s of sub=%s: %d sessions ended", caller.client_id, user.sub, len(tx.ended)
    )
    return Ended(tx.ended)
