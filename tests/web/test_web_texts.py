"""Every page text exists in English and German, and templates hold no text of their own."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import tocsin
from tocsin.web.texts import LANGUAGES, TEXTS, translator

TEMPLATES = Path(tocsin.__file__).parent / "templates" / "web"
_FIELDS = string.Formatter()


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_has_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = TEXTS[key]
    assert set(entry) == set(LANGUAGES), key
    assert all(entry[lang].strip() for lang in LANGUAGES), key
    assert _placeholders(entry["en"]) == _placeholders(entry["de"]), key


def test_unknown_keys_show_as_themselves_and_languages_fall_back() -> None:
    assert translator("de")("no_such_key") == "no_such_key"
    assert translator("fr")("logout") == "Log out"


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
    assert named - set(TEXTS) == set()
