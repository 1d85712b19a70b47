"""Page texts come from the catalogs, and templates hold no text of their own.

That every text exists in every language with the same placeholders is
``tests/unit/test_catalogs.py``'s to check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tocsin
from tocsin.i18n import entries, translate
from tocsin.web.texts import LANGUAGES, has_text, translator

TEMPLATES = Path(tocsin.__file__).parent / "templates" / "web"


def test_the_pages_speak_english_and_german() -> None:
    assert LANGUAGES == ("en", "de")
    assert translator("en")("logout") == "Log out"
    assert translator("de")("logout") == "Abmelden"
    assert translator("de")("signed_in_as", name="anna") == "Angemeldet als anna"


def test_unknown_keys_show_as_themselves_and_languages_fall_back() -> None:
    assert translator("de")("no_such_key") == "no_such_key"
    assert translator("fr")("logout") == "Log out"
    assert not has_text("no_such_key")


def test_page_keys_are_apart_from_the_api_codes() -> None:
    # Both catalogs' "encryption_none": the page's label, the API's advice.
    assert translator("en")("encryption_none") == "None"
    assert translate("encryption_none", "en").startswith("Encryption is off")


def test_a_count_picks_the_plural_form_and_fills_it_in() -> None:
    assert translator("en")("deliveries_shown", count=1) == "Showing the newest 1."
    assert translator("de")("retried", count=3) == (
        "Erneut eingereiht: 3. Die Zustellung nimmt sie in Kürze auf."
    )


def _literal_text(template: str) -> str:
    """What a template shows that does not come from ``t()`` or a value."""
    # Two places that write markup, not text: the page's CSS class, the ARIA wiring.
    template = re.sub(r"\{% block main_class %\}.*?\{% endblock %\}", " ", template)
    template = re.sub(r"\{% macro described.*?endmacro %\}", " ", template, flags=re.S)
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<!doctype html>", " ", text, flags=re.I)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)  # tags and their attributes
    return re.sub(r"[\s·/:—()…•✓–,.;=\"'-]+", "", text)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_show_only_translated_text(template: str) -> None:
    assert _literal_text((TEMPLATES / template).read_text()) == "", template


def test_every_key_a_template_names_exists() -> None:
    named: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        named |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", path.read_text()))
    assert {key for key in named if not has_text(key)} == set()


def test_every_key_family_a_template_builds_exists() -> None:
    # t("status_" ~ row.status): at least one key must start with "status_".
    web = {key for context, key in entries("en") if context == "web"}
    prefixes: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        prefixes |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*~""", path.read_text()))
    assert len(prefixes) > 5
    assert {p for p in prefixes if not any(key.startswith(p) for key in web)} == set()
