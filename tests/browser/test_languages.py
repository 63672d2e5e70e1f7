"""Pages in the person's language, in Chromium: chosen by the application (ui_locales) or by the
browser (Accept-Language), kept through the whole flow (a wrong password, the sign-in, the sign-out
question, the logged-out page and its live statuses), right to left in Arabic, dates in the
person's language and in UTC; an unsupported language is ignored, never an error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser as Chromium
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.idp import PASSWORD, Idp
from tests.support.rp import RecordingRp, register

pytestmark = pytest.mark.browser


@pytest.fixture
def rp(idp_sqlite: Idp, receivers: list[RecordingRp]) -> RecordingRp:
    idp_sqlite.add_user("alice")
    notes = RecordingRp("notes")
    receivers.append(notes)
    return register(idp_sqlite, notes, **notes.metadata(backchannel=True))


def context_in(chrome: Chromium, locale: str | None = None, **options: object) -> BrowserContext:
    ctx = chrome.new_context(locale=locale, **options) if locale else chrome.new_context(**options)  # type: ignore[arg-type]
    ctx.set_default_timeout(15000)
    return ctx


@pytest.fixture
def english_browser(chrome: Chromium) -> Iterator[BrowserContext]:
    ctx = context_in(chrome, "en-US")
    yield ctx
    ctx.close()


def sign_in(page: Page, rp: RecordingRp, password: str = PASSWORD, **params: str) -> None:
    page.goto(rp.base + "/login" + (f"?{urlencode(params)}" if params else ""))
    page.fill("#username", "alice")
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_german_chosen_by_the_application_through_sign_in_and_sign_out(
    idp_sqlite: Idp, rp: RecordingRp, english_browser: BrowserContext
) -> None:
    page = english_browser.new_page()  # an English browser: the application's ui_locales wins
    sign_in(page, rp, password="wrong password", ui_locales="tlh de-AT en")  # Klingon ignored
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Anmelden")
    expect(page.locator("#login-message")).to_have_text("Benutzername oder Passwort ist falsch.")
    expect(page.locator("label[for=password]")).to_have_text("Passwort")
    page.fill("#password", PASSWORD)  # the form carried the language
    page.click("button[type=submit]")
    expect(page.locator("#status")).to_contain_text("signed in as")
    [signed_in] = rp.events("signed_in")

    query = {"id_token_hint": signed_in.data["id_token"], "post_logout_redirect_uri": rp.base + "/bye",
             "ui_locales": "de"}  # fmt: skip
    page.goto(idp_sqlite.url("/logout?" + urlencode(query)))
    expect(page.locator("h1")).to_have_text("Von exeunt abmelden?")
    expect(page.locator("main")).to_contain_text("Notes hat darum gebeten, Sie abzumelden.")
    page.route(rp.base + "/bye**", lambda route: route.fulfill(body="bye"))  # stay to read the page
    page.click("#sign-out")
    expect(page.locator("h1")).to_have_text("Sie sind abgemeldet")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("li[data-backchannel=notes] .status")).to_have_text("abgemeldet")  # the script's words too
    expect(page.locator("#continue")).to_have_text("Weiter zu Notes")


def test_french_and_spanish_chosen_by_the_browser_and_by_the_application(
    idp_sqlite: Idp, rp: RecordingRp, chrome: Chromium
) -> None:
    ctx = context_in(chrome, "fr-FR")  # Accept-Language: fr-FR,fr
    try:
        page = ctx.new_page()
        page.goto(rp.base + "/login")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Se connecter")
        page.goto(rp.base + "/login?ui_locales=es")  # the application asks for Spanish: it wins
        expect(page.locator("h1")).to_have_text("Iniciar sesión")
        page.goto(rp.base + "/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#status")).to_contain_text("signed in as")
        page.goto(idp_sqlite.url("/account/sessions"))
        expect(page.locator("h1")).to_have_text("Où vous êtes connecté(e)")
        times = page.locator("li.session .muted").first.inner_text()
        assert "connecté(e) le" in times and "UTC" in times and "déc." in times, times  # French dates, in UTC
        response = page.goto(idp_sqlite.url("/nowhere"))
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("Page introuvable")
    finally:
        ctx.close()


def test_arabic_is_right_to_left_and_fits_a_small_screen(
    idp_sqlite: Idp, rp: RecordingRp, chrome: Chromium, artifacts: Path
) -> None:
    ctx = context_in(chrome, "ar-EG", viewport={"width": 360, "height": 640})
    try:
        page = ctx.new_page()
        sign_in(page, rp, password="wrong password")
        html = page.locator("html")
        expect(html).to_have_attribute("lang", "ar")
        expect(html).to_have_attribute("dir", "rtl")
        expect(page.locator("h1")).to_have_text("تسجيل الدخول")
        assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
        wide = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        assert not wide, "the Arabic sign-in page scrolls sideways"
        page.screenshot(path=str(artifacts / "login-arabic.png"), full_page=True)
    finally:
        ctx.close()


def test_discovery_names_the_languages(idp_sqlite: Idp) -> None:
    import httpx

    meta = httpx.get(idp_sqlite.url("/.well-known/openid-configuration")).json()
    assert meta["ui_locales_supported"] == ["en", "de", "fr", "es", "ar"]
    page = httpx.get(idp_sqlite.url("/login"), headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert page.headers["content-language"] == "es" and "Accept-Language" in page.headers["vary"]
    assert 'lang="es" dir="ltr"' in page.text
