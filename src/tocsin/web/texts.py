"""Every text the pages show, looked up by a stable key in the gettext catalogs.

The pages' entries carry ``msgctxt "web"`` in ``tocsin/locale/<lang>/LC_MESSAGES/tocsin.po``
(the validation and hint texts they show are the core codes of :mod:`tocsin.i18n`): page
wording changes often and must not collide with API codes.  The languages are the
catalogs there are.  ``tests/unit/test_catalogs.py`` checks that every key has every
language with the same placeholders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tocsin.i18n import FALLBACK, available_languages, lookup
from tocsin.i18n import has_text as _has_text

__all__ = ["CONTEXT", "LANGUAGES", "Translator", "has_text", "translator"]

CONTEXT: Final = "web"
LANGUAGES: Final = available_languages()

Translator = Callable[..., str]


def has_text(key: str) -> bool:
    """True when the pages' catalog has ``key``."""
    return _has_text(key, CONTEXT)


def translator(language: str) -> Translator:
    """A ``t(key, **params)`` for ``language`` that the templates call.

    An unknown key shows as the key itself (a test catches those); a missing
    language falls back to English.  With an integer ``count`` a plural entry
    takes the form that fits it.
    """
    lang = language if language in LANGUAGES else FALLBACK

    def t(key: str, /, **params: object) -> str:
        text = lookup(key, lang, CONTEXT, params)
        return text.format(**params) if params else text  # a key has no braces

    return t
