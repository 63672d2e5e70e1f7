"""The message catalogs: ``src/exeunt/locales/<language>/LC_MESSAGES/messages.po``, compiled in
memory the first time a language is asked for (the web layer asks for all of them when it starts),
so nothing is downloaded or built at run time and no compiled file can be stale.  English is the
source language: it has no catalog.  ``scripts/translations`` refreshes the catalogs; the unit test
``tests/unit/test_translations.py`` fails while one lacks a string or keeps a stale one."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from exeunt.languages import SUPPORTED

LOCALES = Path(__file__).resolve().parent / "locales"  # inside the package: in every wheel


@cache
def translations(language: str) -> NullTranslations:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def in_every_language(text: str) -> dict[str, str]:
    """An N_-marked message in every supported language, by language tag (CAEP's ``reason_user``)."""
    return {language: translations(language).gettext(text) for language in SUPPORTED}
