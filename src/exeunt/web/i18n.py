"""Pages in the person's language: the catalogs (``catalogs.py``, compiled when the process starts),
the language of each request (``languages.choose``: ``ui_locales``, then Accept-Language,
then ``EXEUNT_DEFAULT_LOCALE``), and the templates that speak it.

A request's language comes from ``request.state.ui_locales`` (an endpoint that carried the
application's ``ui_locales`` through a form sets it), else the ``ui_locales`` query parameter, else
the browser.  Jinja's i18n extension gives templates ``_()``/``{% trans %}``; the ``t`` filter
translates words written in Python (``N_`` strings and ``Phrase``); ``when`` writes a time in the
page's language, always in UTC and saying so."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from exeunt.catalogs import translations
from exeunt.languages import SUPPORTED, choose, direction
from exeunt.words import Phrase

_current: ContextVar[str] = ContextVar("exeunt_language", default="en")


def gettext(text: str) -> str:
    return translations(_current.get()).gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def translate(words: Any) -> str:
    """The ``t`` filter: an N_-marked string or a Phrase, in the page's language."""
    if isinstance(words, Phrase):
        if words.plural is not None:
            return ngettext(words.text, words.plural, words.n) % words.values
        return gettext(words.text) % words.values
    return gettext(str(words)) if words else ""


def when(value: datetime | None) -> str:
    """A moment in the page's language, in UTC (and saying so)."""
    if value is None:
        return "–"
    return format_datetime(value.astimezone(UTC), "medium", tzinfo=UTC, locale=_current.get()) + " UTC"


def language_of(request: Request, default: str) -> str:
    ui_locales = getattr(request.state, "ui_locales", None) or request.query_params.get("ui_locales")
    return choose(ui_locales, request.headers.get("accept-language"), default)


class Pages(Jinja2Templates):
    """Jinja2Templates whose every response speaks the request's language (``lang`` and ``dir`` on
    ``<html>``, Content-Language, Vary: Accept-Language)."""

    def __init__(self, directory: str, default_language: str) -> None:
        super().__init__(directory=directory)
        self.default_language = default_language
        self.env.add_extension("jinja2.ext.i18n")
        self.env.policies["ext.i18n.trimmed"] = True  # a message spread over lines is one line in the catalog
        self.env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.env.filters["t"] = translate
        self.env.filters["when"] = when
        for language in SUPPORTED:  # compiled now, not on a person's first request
            translations(language)

    def TemplateResponse(  # type: ignore[override]
        self, request: Request, name: str, context: dict[str, Any] | None = None, **kwargs: Any
    ) -> Response:
        language = language_of(request, self.default_language)
        token = _current.set(language)
        try:
            context = {"lang": language, "dir": direction(language), **(context or {})}
            response = super().TemplateResponse(request, name, context, **kwargs)
        finally:
            _current.reset(token)
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language"
        return response
