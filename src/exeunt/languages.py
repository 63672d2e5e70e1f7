"""Which language a page speaks: OIDC ``ui_locales`` first (Core §3.1.2.1: "space-separated list of
BCP47 language tag values, ordered by preference"; unsupported values are ignored, never an error),
then the browser's ``Accept-Language`` (RFC 9110 §12.5.4, q-values), then the operator's default.

Pure rules: no web, no catalogs.  A tag matches a supported language exactly or by its primary
subtag (``de-AT`` → ``de``); ``*`` and ``q=0`` choose nothing."""

from __future__ import annotations

import re

SUPPORTED = ("en", "de", "fr", "es", "ar")
RIGHT_TO_LEFT = frozenset({"ar"})
DEFAULT = "en"
MAX_TAGS = 20  # a header or parameter longer than this is read only this far
MAX_HEADER = 1000
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def supported(tag: str) -> str | None:
    """The supported language a BCP47 tag asks for, if any."""
    if not _TAG.match(tag):
        return None
    lowered = tag.lower()
    if lowered in SUPPORTED:
        return lowered
    primary = lowered.split("-", 1)[0]
    return primary if primary in SUPPORTED else None


def from_ui_locales(value: str | None) -> str | None:
    """The first supported language of a ``ui_locales`` value."""
    for tag in (value or "")[:MAX_HEADER].split()[:MAX_TAGS]:
        found = supported(tag)
        if found:
            return found
    return None


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (highest q; the earlier one on a tie)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "")[:MAX_HEADER].split(",")[:MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.match(value) else 0.0
        found = supported(tag.strip())
        if found and quality > 0:
            ranked.append((-quality, position, found))
    return min(ranked)[2] if ranked else None


def choose(ui_locales: str | None, accept_language: str | None, default: str = DEFAULT) -> str:
    return from_ui_locales(ui_locales) or from_accept_language(accept_language) or default


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"
