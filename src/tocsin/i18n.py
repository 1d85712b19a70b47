"""User-facing texts, looked up by a stable code in gettext catalogs.

Codes are part of the API (clients may branch on them); texts may be reworded.  Each
language is one catalog, ``locale/<language>/LC_MESSAGES/tocsin.po``: the code is the
msgid, the text the msgstr with ``str.format`` placeholders (``{name}``); the pages'
texts carry ``msgctxt "web"`` (their keys are not API codes and may repeat one).  A text
with a ``{count}`` is a plural entry.  A language is there when its ``.po`` file is.

The compiled ``.mo`` beside each ``.po`` is made when the wheel is built (``setup.py``);
where it is missing or was not made from the ``.po`` as it is now (an editable install,
a catalog just edited), the loader compiles the ``.po`` itself: texts are never stale.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import hashlib
import io
import os
import struct
import tempfile
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

__all__ = ["Language", "translate"]

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
DOMAIN: Final = "tocsin"
FALLBACK: Final = "en"


def po_file(language: str) -> Path:
    """Where the catalog of ``language`` lives (the ``.mo`` is beside it)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def available_languages() -> tuple[str, ...]:
    """The languages that have a catalog, English first."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.[pm]o")}
    return tuple(sorted(found, key=lambda lang: (lang != FALLBACK, lang)))


if TYPE_CHECKING:

    class Language(StrEnum):
        """The languages users and admins can choose: one per catalog (en, de shipped)."""

        EN = "en"
        DE = "de"

else:
    # One member per catalog, so a new .po file is a new language everywhere (the API's
    # schema, the users' email language) without a code change.
    Language = StrEnum(
        "Language", {lang.upper(): lang for lang in available_languages()}, module=__name__
    )
    Language.__doc__ = "The languages users and admins can choose: one per catalog."


def compile_po(po: Path) -> bytes:
    """The ``.mo`` bytes of the catalog ``po`` (fuzzy entries left out).

    The ``.mo`` carries the SHA-256 of the ``.po`` it was made from, so a stale one is
    told by content, not by file times (an installer may write them in any order).
    """
    from babel.messages.mofile import write_mo  # only where no fresh .mo exists
    from babel.messages.pofile import read_po

    source = po.read_bytes()
    catalog = read_po(io.BytesIO(source), abort_invalid=True)
    catalog.add(_SOURCE_ID, hashlib.sha256(source).hexdigest(), context=_SOURCE_CONTEXT)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def write_mo_file(po: Path) -> bytes:
    """Compile ``po`` into the ``.mo`` beside it; return its bytes.

    Written to a fresh temporary file and renamed over the ``.mo``, so a reader (or a
    second writer) never sees half a file.
    """
    compiled = compile_po(po)
    _store(po.with_suffix(".mo"), compiled)
    return compiled


def _store(mo: Path, compiled: bytes) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{mo.name}.", dir=mo.parent)
    try:
        os.fchmod(handle, 0o644)  # readable like the .po (mkstemp makes it private)
        with os.fdopen(handle, "wb") as out:
            out.write(compiled)
        os.replace(name, mo)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


_SOURCE_CONTEXT: Final = "tocsin-build"
_SOURCE_ID: Final = "po-sha256"


def _digest(po: Path) -> str:
    return hashlib.sha256(po.read_bytes()).hexdigest()


def _load(po: Path) -> gettext.GNUTranslations:
    """The catalog of ``po``: its ``.mo`` if made from this very ``.po``, else compiled.

    A wheel ships fresh ``.mo`` files (the build compiles them).  In a checkout or an
    editable install, or after a ``.po`` was edited, the ``.po`` is compiled and the
    ``.mo`` cached beside it where the directory is writable, in memory where not.
    """
    mo = po.with_suffix(".mo")
    if not po.exists():
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    try:
        with mo.open("rb") as handle:
            texts = gettext.GNUTranslations(handle)
        if texts.pgettext(_SOURCE_CONTEXT, _SOURCE_ID) == _digest(po):
            return texts
    except (OSError, ValueError, IndexError, struct.error):
        pass  # none yet, or unreadable (cut short, another tool's): compile anew
    compiled = compile_po(po)
    with contextlib.suppress(OSError):  # a read-only install: in memory, at every start
        _store(mo, compiled)
    return gettext.GNUTranslations(io.BytesIO(compiled))


class _NoText(gettext.NullTranslations):
    """The last fallback: tells a code no catalog has from a text equal to its code."""

    def gettext(self, message: str) -> str:
        return _MISSING

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return _MISSING

    def pgettext(self, context: str, message: str) -> str:
        return _MISSING

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return _MISSING


_MISSING: Final = "\x00"


@functools.cache
def catalog(language: str) -> gettext.GNUTranslations:
    """The texts of ``language``; what it lacks (or an unknown language) falls to English."""
    if language not in available_languages():
        language = FALLBACK
    texts = _load(po_file(language))
    texts.add_fallback(catalog(FALLBACK) if language != FALLBACK else _NoText())
    return texts


def _find(code: str, language: str, context: str | None, params: Mapping[str, object]) -> str:
    texts = catalog(language)
    count = params.get("count")
    if isinstance(count, int) and not isinstance(count, bool):
        if context is None:
            text = texts.ngettext(code, code, count)
        else:
            text = texts.npgettext(context, code, code, count)
        if text != _MISSING:
            return text
    # Without a count, stdlib gettext gives a plural entry's singular.
    return texts.gettext(code) if context is None else texts.pgettext(context, code)


def lookup(code: str, language: str, context: str | None, params: Mapping[str, object]) -> str:
    """The unformatted text of ``code``; the code itself if no catalog has it.

    A plural entry picks its form by an integer ``count`` parameter.
    """
    text = _find(code, language, context, params)
    return code if text == _MISSING else text


def has_text(code: str, context: str | None = None) -> bool:
    """True when the catalogs have ``code`` (in ``context``)."""
    return _find(code, FALLBACK, context, {}) != _MISSING


def translate(code: str, language: str = "en", /, **params: object) -> str:
    """Return the text for ``code`` in ``language`` (English if unknown), formatted."""
    text = _find(code, language, None, params)
    return code if text == _MISSING else text.format(**params)


def known_codes() -> frozenset[str]:
    """Every code that has a text (for tests and tools; reads the English ``.po``)."""
    return frozenset(key for context, key in entries(FALLBACK) if context is None)


def entries(language: str) -> dict[tuple[str | None, str], tuple[str, ...]]:
    """Every entry of a catalog: (context, code) → its forms (one, or one per plural form).

    For tests and tools: it reads the ``.po`` with Babel.
    """
    from babel.messages.pofile import read_po

    with po_file(language).open("rb") as handle:
        read = read_po(handle, abort_invalid=True)
    found: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for message in read:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        forms = message.string
        found[(message.context, key)] = (forms,) if isinstance(forms, str) else tuple(forms or ())
    return found
