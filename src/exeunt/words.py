"""Words a person reads, marked for translation where they are written (pure; the catalogs and the
choice of language are the web layer's, ``web/i18n.py``).

``N_("...")`` marks a string for the catalogs and returns it unchanged: the page translates it when
it renders, in the person's language; ``NN_("...", "...")`` marks one with a plural form.
``Phrase`` is such a string with values to put in it (``%(name)s`` placeholders), so a translation
can move them where its grammar wants them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(text: str) -> str:  # the conventional gettext marker's name
    return text


def NN_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with a plural form (one catalog entry; each language has its own plural rules)."""
    return singular, plural


@dataclass(frozen=True)
class Phrase:
    text: str  # an N_-marked string with %(name)s placeholders
    values: dict[str, Any] = field(default_factory=dict)
    plural: str | None = None  # the plural form (N_-marked too), chosen by ``n`` in each language's way
    n: int = 1

    @classmethod
    def counted(cls, forms: tuple[str, str], n: int, **values: Any) -> Phrase:
        """The form for ``n`` of an ``NN_`` message (``n`` is in the values too, as ``%(n)s``)."""
        return cls(forms[0], {"n": n, **values}, plural=forms[1], n=n)

    def __str__(self) -> str:  # English, for logs and tests
        return (self.text if self.plural is None or self.n == 1 else self.plural) % self.values


Words = str | Phrase
