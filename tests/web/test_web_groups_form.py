"""The alarm-group pages as a person reads them (issue 12, point 5): inherited values
shown as they are, the "Set here" choice in one place, a real cap input, the id not
posing as a field, and removal offered only where it can work."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.services.context import Services


def test_greyed_inherited_fields_show_the_inherited_values(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)  # Building 1: "always" without warnings, at most 10 per hour
    page = signed_in
    page.goto(server.url + "/groups/sr/edit")
    expect(page.locator("#f-mode-always-inherit")).to_be_checked()
    expect(page.locator("#f-warnings-always")).not_to_be_checked()
    expect(page.locator("#f-cap-always")).to_have_value("10")
    # The server room's own "fire" setting shows its own values.
    expect(page.locator("#f-mode-fire-own")).to_be_checked()
    expect(page.locator("#f-warnings-fire")).to_be_checked()
    expect(page.locator("#f-cap-fire")).to_have_value("3")


@pytest.mark.parametrize("width", [1280, 375])
def test_set_here_stays_in_one_place_and_the_cap_is_a_real_input(
    signed_in: Page, server: LiveServer, services: Services, width: int
) -> None:
    site(services)
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    speak_german(page)  # the longer texts
    page.goto(server.url + "/groups/sr/edit")
    xs = set()
    for own in page.locator("input[type=radio][value=own]").all():
        box = own.bounding_box()
        assert box is not None
        xs.add(round(box["x"]))
    assert len(xs) == 1, xs
    name = page.locator("#f-name").bounding_box()
    for cap in page.locator("input[name^=cap_]").all():
        box = cap.bounding_box()
        assert box is not None
        assert name is not None
        assert abs(box["height"] - name["height"]) <= 1, (box, name)  # like every input
        assert box["width"] >= 96, box
        expect(cap).to_have_attribute("inputmode", "numeric")


def test_the_id_of_a_saved_group_is_shown_as_text(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups/sr/edit")
    expect(page.get_by_role("textbox", name="Id")).to_have_count(0)
    expect(page.locator("#f-id")).to_have_text("sr")
    expect(page.locator("#f-id-help")).to_have_text("The id cannot be changed.")


def test_remove_is_offered_only_where_it_can_work_and_a_refusal_stays_on_the_list(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    services.sites.add_group({"id": "empty", "name": "Empty hall"})
    page = signed_in
    page.goto(server.url + "/groups")
    hq = page.locator('li[data-group="hq"] > section')
    expect(hq.locator("summary")).to_have_count(0)
    expect(hq).to_contain_text("To remove it, first move or remove its subgroups and users.")
    empty = page.locator('li[data-group="empty"] > section')
    empty.locator("summary").click()
    empty.get_by_role("button", name="Yes, remove").click()
    expect(page).to_have_url(re.compile(r"/groups\?done=removed"))

    # Posted anyway (a stale page): back on the list, with names, not the POST address.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    page.goto(server.url + "/groups")
    page.evaluate(
        """(token) => {
             const form = document.createElement('form');
             form.method = 'post'; form.action = '/groups/hq/remove';
             const input = document.createElement('input');
             input.type = 'hidden'; input.name = 'csrf_token'; input.value = token;
             form.appendChild(input); document.body.appendChild(form); form.submit();
           }""",
        token,
    )
    expect(page).to_have_url(re.compile(r"/groups\?" + re.escape(urlencode({"refused": "hq"}))))
    expect(page.locator("#remove-refused")).to_contain_text(
        "Headquarters still has subgroups: Building 1. Move or remove them first."
    )
    assert "hq" in services.sites.view().tree
