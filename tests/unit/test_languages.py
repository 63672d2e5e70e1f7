"""Which language a page speaks (exeunt/languages.py): OIDC ui_locales first (the first supported
wins; unsupported values are ignored, never an error), then Accept-Language by q-value, then the
operator's default."""

from __future__ import annotations

import pytest

from exeunt.languages import choose, direction, from_accept_language, from_ui_locales


@pytest.mark.parametrize(
    ("ui_locales", "expected"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("tlh fr-CA de", "fr"),  # Klingon is not supported: the next preference wins
        ("EN-gb", "en"),
        ("ar-EG", "ar"),
        ("", None),
        ("tlh x-private", None),
        ("de_DE", None),  # not a BCP47 tag
        ("*", None),
        ("xx " * 50 + "de", None),  # only the first 20 preferences are read
    ],
)
def test_ui_locales(ui_locales: str, expected: str | None) -> None:
    assert from_ui_locales(ui_locales) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("en;q=0.5, es;q=0.9", "es"),  # by quality, not by order
        ("ja, es;q=0.2", "es"),  # the first supported
        ("de;q=0, fr;q=0.1", "fr"),  # q=0: not acceptable
        ("de;q=1.5, fr;q=0.3", "fr"),  # a malformed q-value counts as 0
        ("es;q=0.8, fr;q=0.8", "es"),  # a tie: the earlier
        ("*", None),
        ("", None),
        (";;;,,,=", None),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_ui_locales_before_the_browser_before_the_default() -> None:
    assert choose("es", "de-DE,de", default="fr") == "es"
    assert choose("tlh", "de-DE,de", default="fr") == "de"
    assert choose(None, None, default="fr") == "fr"
    assert choose(None, "x" * 5000, default="en") == "en"


def test_arabic_is_written_right_to_left() -> None:
    assert direction("ar") == "rtl" and direction("de") == "ltr"
