"""Numbers in protocol parameters and headers: ASCII digits only, bounded.

``str.isdigit`` and ``int`` accept Unicode digits ("²", "٣"), and ``int`` accepts any length; a
parameter that reaches ``timedelta`` or a database must be neither.
"""

from __future__ import annotations

MAX_DIGITS = 18  # fits a 64-bit integer


def parse_non_negative(raw: str) -> int | None:
    """The value of a string of 1 to 18 ASCII digits, else None."""
    if not raw or len(raw) > MAX_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)
