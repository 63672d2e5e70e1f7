"""Every string a person can read is in every catalog, translated, and none is stale: the strings
are extracted from the code and templates as scripts/translations does (babel.cfg), and each
catalog must hold exactly those, with the same placeholders and markup in every form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from exeunt.catalogs import LOCALES, in_every_language, translations
from exeunt.languages import SUPPORTED

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
MARKUP = re.compile(r"</?[a-z]+[^>]*>")


def extracted() -> set[str | tuple[str, str]]:
    method_map = [("src/exeunt/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options, keywords={"N_": None, "NN_": (1, 2), "_": None, "gettext": None,
                                                   "ngettext": (1, 2)},
    ):  # fmt: skip
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


MESSAGES = extracted()


def test_the_code_marks_the_strings_a_person_reads() -> None:
    ids = {m if isinstance(m, str) else m[0] for m in MESSAGES}
    assert len(ids) >= 120
    for known in (
        "Sign in",
        "You are signed out",
        "Incorrect username or password.",
        "Your session expired. Please sign in again.",
    ):
        assert known in ids


@pytest.mark.parametrize("language", [language for language in SUPPORTED if language != "en"])
def test_every_catalog_is_complete_current_and_consistent(language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    held = {m.id if isinstance(m.id, str) else (m.id[0], m.id[1]): m for m in catalog if m.id}
    missing = sorted(map(str, MESSAGES - set(held)))
    stale = sorted(map(str, set(held) - MESSAGES))
    assert not missing, f"{language} lacks (run scripts/translations, then translate): {missing}"
    assert not stale, f"{language} keeps strings no page uses any more (run scripts/translations): {stale}"
    for key, message in held.items():
        assert not message.fuzzy, (language, key)
        sources = [key] if isinstance(key, str) else list(key)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        assert len(forms) == (1 if isinstance(key, str) else catalog.num_plurals), (language, key)
        wanted = set().union(*(PLACEHOLDER.findall(s) for s in sources))
        tags = sorted(MARKUP.findall(sources[0]))
        for form in forms:
            assert form.strip(), f"{language}: untranslated {key!r}"
            assert set(PLACEHOLDER.findall(form)) <= wanted, (language, key, form)
            if isinstance(key, str):  # a plural form may leave a number out (Arabic's "two" says it in words)
                assert set(PLACEHOLDER.findall(form)) == wanted, (language, key, form)
            assert sorted(MARKUP.findall(form)) == tags, (language, key, form)


def test_the_catalogs_compile_and_translate() -> None:
    assert translations("de").gettext("Sign in") == "Anmelden"
    assert translations("ar").ngettext("%(n)s", "%(n)s", 2) == "%(n)s"  # not in the catalog: itself
    reasons = in_every_language("Your session expired. Please sign in again.")
    assert set(reasons) == set(SUPPORTED) and reasons["en"] == "Your session expired. Please sign in again."
    assert reasons["fr"] == "Votre session a expiré. Veuillez vous reconnecter."
