"""The shapes of identifiers exeunt issues or registers.  An identifier that cannot exist is refused at
the edge (404, ``invalid_request``, ``invalid_client``) before any query: PostgreSQL refuses NUL in text,
and nothing is gained by asking the database about a value that cannot match."""

from __future__ import annotations

import re

CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces (registration enforces it)
RANDOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # base64url ids exeunt makes: sign-out ids, sids


def is_client_id(value: str) -> bool:
    return CLIENT_ID.match(value) is not None


def is_random_id(value: str) -> bool:
    return RANDOM_ID.match(value) is not None
