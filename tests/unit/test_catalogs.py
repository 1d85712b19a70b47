"""The gettext catalogs: every message in every language, alike placeholders, clean builds.

Each language is ``tocsin/locale/<lang>/LC_MESSAGES/tocsin.po``; English is the reference
(every code and page key exists there).  These tests read the ``.po`` files with Babel,
the same reader the build uses, and extract the codes the code and templates name.
"""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
import sys
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import tocsin
from tocsin.alarm_email import _WORD_CODES
from tocsin.i18n import (
    FALLBACK,
    LOCALE_DIR,
    available_languages,
    catalog,
    compile_po,
    entries,
    po_file,
    translate,
)

LANGUAGES = available_languages()
PACKAGE = Path(tocsin.__file__).parent
ENGLISH = entries(FALLBACK)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def _where(key: tuple[str | None, str]) -> str:
    return f"{key[0]}:{key[1]}" if key[0] else key[1]


def test_english_and_german_ship() -> None:
    assert LANGUAGES[:1] == ("en",)
    assert set(LANGUAGES) >= {"en", "de"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_exists_in_every_language_with_the_same_placeholders(
    language: str,
) -> None:
    own = entries(language)
    assert sorted(map(_where, own.keys() ^ ENGLISH.keys())) == []
    for key, english in ENGLISH.items():
        forms = own[key]
        assert len(forms) == len(english), f"{_where(key)}: plural in one language only"
        for form in forms:
            assert form.strip(), f"{_where(key)} is empty in {language}"
            assert _fields(form) == _fields(english[0]), f"{_where(key)} in {language}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_po_files_compile_cleanly(language: str) -> None:
    with po_file(language).open("rb") as handle:
        read = read_po(handle, abort_invalid=True)
    assert str(read.locale) == language
    assert read.plural_forms, "the header needs Plural-Forms"
    problems = [(message.id, errors) for message, errors in read.check()]
    assert problems == []
    assert [message.id for message in read if message.fuzzy and message.id] == []
    compiled = gettext.GNUTranslations(io.BytesIO(compile_po(po_file(language))))
    assert compiled.pgettext("web", "logout") == catalog(language).pgettext("web", "logout")


def test_plural_entries_are_the_ones_with_a_count() -> None:
    for key, forms in ENGLISH.items():
        assert (len(forms) > 1) == ("count" in _fields(forms[0])), _where(key)


def test_a_count_picks_the_form() -> None:
    assert translate("no_such_code", "de", count=2) == "no_such_code"
    assert catalog("de").npgettext("web", "deliveries_shown", "deliveries_shown", 2) == (
        "Angezeigt werden die neuesten {count}."
    )


def test_only_known_contexts() -> None:
    assert {context for context, _ in ENGLISH} == {None, "web", "email"}


def test_every_email_label_is_in_the_catalog_and_nothing_else_is() -> None:
    email = {code for context, code in ENGLISH if context == "email"}
    assert email == {*_WORD_CODES, "date_format"}


_PAGE_KEYWORDS = {"t": None, "_": None, "gettext": None, "ngettext": (1, 2)}


def _extracted(pattern: str, keywords: dict[str, tuple[int, ...] | None]) -> set[str]:
    method_map = [(pattern, "jinja2" if pattern.startswith("templates") else "python")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        PACKAGE, method_map, keywords=keywords, comment_tags=()
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_literal_code_the_code_passes_to_translate_exists() -> None:
    codes = _extracted("**.py", {"translate": None})
    assert len(codes) > 10
    assert sorted(code for code in codes if (None, code) not in ENGLISH) == []


@pytest.mark.parametrize(("pattern", "least"), [("templates/web/**.html", 200), ("web/**.py", 5)])
def test_every_literal_page_key_exists(pattern: str, least: int) -> None:
    keys = _extracted(pattern, _PAGE_KEYWORDS)
    assert len(keys) >= least
    if pattern.endswith(".html"):
        assert {"deliveries_shown", "retried"} <= keys  # ngettext's
    assert sorted(key for key in keys if ("web", key) not in ENGLISH) == []


def _run(package_root: Path, code: str) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=package_root,
        env={"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()


def test_an_edited_po_shows_at_the_next_start_and_a_fresh_mo_needs_no_babel(
    tmp_path: Path,
) -> None:
    shutil.copytree(PACKAGE, tmp_path / "tocsin", ignore=shutil.ignore_patterns("*.mo"))
    german = tmp_path / "tocsin" / "locale" / "de" / "LC_MESSAGES" / "tocsin.po"
    probe = (
        "import sys\n"
        "from tocsin.i18n import translate\n"
        "print(translate('invalid_bool', 'de'))\n"
        "print(any(m.startswith('babel') for m in sys.modules))\n"
    )
    assert _run(tmp_path, probe) == ["Geben Sie true oder false ein.", "True"]  # compiled
    assert _run(tmp_path, probe) == ["Geben Sie true oder false ein.", "False"]  # cached .mo
    german.write_text(
        german.read_text(encoding="utf-8").replace("Geben Sie true oder false ein.", "Ja/nein?"),
        encoding="utf-8",
    )
    assert _run(tmp_path, probe) == ["Ja/nein?", "True"]  # the .mo was stale: compiled again
    german.with_suffix(".mo").write_bytes(b"\x95\x04\x12\xde cut short")
    assert _run(tmp_path, probe) == ["Ja/nein?", "True"]  # a broken .mo is made anew
    assert _run(tmp_path, probe) == ["Ja/nein?", "False"]


def test_a_third_language_is_one_po_file(tmp_path: Path) -> None:
    """Copy the package, add fr.po (English with two texts reworded), and nothing else."""
    shutil.copytree(PACKAGE, tmp_path / "tocsin", ignore=shutil.ignore_patterns("*.mo"))
    french = (LOCALE_DIR / "en" / "LC_MESSAGES" / "tocsin.po").read_text(encoding="utf-8")
    french = french.replace('"Language: en\\n"', '"Language: fr\\n"')
    french = french.replace('msgstr "Log out"', 'msgstr "Se déconnecter"')
    french = french.replace('msgstr "Enter true or false."', 'msgstr "Entrez true ou false."')
    own_name = 'msgid "name_of_this_language"\nmsgstr '
    french = french.replace(own_name + '"English"', own_name + '"Français"')
    target = tmp_path / "tocsin" / "locale" / "fr" / "LC_MESSAGES" / "tocsin.po"
    target.parent.mkdir(parents=True)
    target.write_text(french, encoding="utf-8")
    probe = (
        "from tocsin.i18n import Language, translate\n"
        "from tocsin.web.texts import LANGUAGES, translator\n"
        "print(tuple(Language), LANGUAGES)\n"
        "print(translator('fr')('logout'), translator('fr')('name_of_this_language'))\n"
        "print(translate('invalid_bool', 'fr'), translate('invalid_bool', 'de'))\n"
    )
    assert _run(tmp_path, probe) == [
        "(<Language.EN: 'en'>, <Language.DE: 'de'>, <Language.FR: 'fr'>) ('en', 'de', 'fr')",
        "Se déconnecter Français",
        "Entrez true ou false. Geben Sie true oder false ein.",
    ]
