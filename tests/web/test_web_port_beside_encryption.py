"""The port sits right below the encryption choice: changing the mode shows its preset in view."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from test_web_test_typed import PHONE_375, _open_as
from web_helpers import DESKTOP

from helpers import LiveServer
from tocsin.services.context import Services


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_375], ids=["1280", "375"])
@pytest.mark.parametrize("language", ["en", "de"])
def test_changing_the_encryption_shows_the_port_preset_in_view(
    page: Page, server: LiveServer, services: Services, viewport: dict[str, int], language: str
) -> None:
    page.set_viewport_size(viewport)
    _open_as(page, server, services, language)
    page.locator("#f-encryption-ssl").check()
    expect(page.locator("#f-port")).to_have_value("465")
    expect(page.locator("#f-port")).to_be_in_viewport()
    expect(page.locator("#port-preset")).to_be_in_viewport()
    expect(page.locator("#port-preset")).to_contain_text("465")
    # The port follows the choice, inside the same group.
    assert page.locator("fieldset:has(#f-encryption-ssl) #f-port").count() == 1
