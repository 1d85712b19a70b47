"""Wording of the catalogs: Tocsin speaks of itself only, and German says it properly."""

from __future__ import annotations

import pytest

from tocsin.i18n import entries


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_vendor_product_is_named_in_our_texts(language: str) -> None:
    named = [key for key, forms in entries(language).items() if "kentix" in " ".join(forms).lower()]
    assert named == []


def test_german_says_per_email_benachrichtigt_and_schweregrad() -> None:
    texts = entries("de")
    every = " ".join(" ".join(forms) for forms in texts.values())
    assert "gemailt" not in every
    assert texts[("web", "notif_sent")] == ("per E-Mail benachrichtigt",)
    assert texts[("web", "f_severity")] == ("Schweregrad",)
