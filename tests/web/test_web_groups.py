"""The alarm-groups pages in a browser: add, inherit or override, rename, move, remove."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from web_data import site
from web_helpers import speak_german

from helpers import LiveServer
from tocsin.model import Category, CategoryPolicy
from tocsin.services.context import Services


def test_the_tree_says_which_group_each_inherited_value_comes_from(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups")
    room = page.locator('li[data-group="sr"] > section')
    always = room.locator('tr[data-category="always"]')
    expect(always).to_have_attribute("data-source", "inherited")
    expect(always).to_contain_text("Inherited from Building 1")
    fire = room.locator('tr[data-category="fire"]')
    expect(fire).to_contain_text("Set here")
    expect(fire.locator(".source-from")).to_have_count(0)
    # Nothing set anywhere up the tree: the built-in default, not "inherited".
    armed = room.locator('tr[data-category="armed"]')
    expect(armed).to_have_attribute("data-source", "default")


def test_a_subgroup_is_added_with_its_own_settings(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups")
    page.get_by_role("link", name="Add a subgroup to Building 1").click()
    expect(page).to_have_url(re.compile(r"/groups/new\?parent=b1$"))
    expect(page.get_by_label("Parent group")).to_have_value("b1")
    # What inheriting gives, and from where.
    expect(page.locator("#f-mode-always-from")).to_contain_text(
        "from Building 1: warnings no, at most 10 per hour"
    )
    expect(page.locator("#f-mode-armed-from")).to_contain_text(
        "the default: warnings yes, no limit"
    )
    for category in Category:
        expect(page.locator(f"#f-mode-{category.value}-inherit")).to_be_checked()
    page.get_by_label("Id", exact=True).fill("lab")
    page.get_by_label("Name", exact=True).fill("Lab")
    page.locator("#f-mode-armed-own").check()
    page.locator("#f-warnings-armed").uncheck()
    page.locator("#f-cap-armed").fill("4")
    shoot(page, "group-add-en")
    page.get_by_role("button", name="Add group").click()

    expect(page.locator("#done")).to_have_text("Alarm group Lab added.")
    lab = page.locator('li[data-group="b1"] li[data-group="lab"] > section')
    expect(lab.locator('tr[data-category="armed"]')).to_have_attribute("data-source", "own")
    expect(lab.locator('tr[data-category="always"]')).to_contain_text("Inherited from Building 1")
    group = services.sites.group("lab")
    assert group.parent_id == "b1"
    assert group.settings.own(Category.ARMED) == CategoryPolicy(
        email_warnings=False, max_per_hour=4
    )
    assert group.settings.own(Category.FIRE) is None
    shoot(page, "groups-tree-en")


def test_a_group_is_renamed_moved_and_set_back_to_inherit(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups")
    page.get_by_role("link", name="Edit Server room").click()
    expect(page.locator("#f-mode-fire-own")).to_be_checked()
    expect(page.locator("#f-cap-fire")).to_have_value("3")
    # A group cannot move below itself, so it is not offered as its own parent.
    expect(page.locator('#f-parent option[value="sr"]')).to_have_count(0)
    page.get_by_label("Name", exact=True).fill("Data centre")
    page.get_by_label("Parent group").select_option("hq")
    page.locator("#f-mode-fire-inherit").check()
    shoot(page, "group-edit-en")
    page.get_by_role("button", name="Save group").click()
    expect(page.locator("#done")).to_have_text("Alarm group Data centre saved.")
    expect(page.locator('li[data-group="hq"] > ul > li[data-group="sr"]')).to_have_count(1)
    group = services.sites.group("sr")
    assert (group.name, group.parent_id) == ("Data centre", "hq")
    assert group.settings.own(Category.FIRE) is None


def test_a_refused_group_shows_the_error_at_the_category_and_saves_nothing(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups/b1/edit")
    page.get_by_label("Name", exact=True).fill("Renamed")
    page.locator("#f-cap-always").fill("0")
    page.get_by_role("button", name="Save group").click()
    expect(page.locator("#error-summary")).to_contain_text("Always active")
    expect(page.locator("#f-policy-always-error")).to_contain_text("from 1 to 100000")
    expect(page.locator("#f-cap-always")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Renamed")
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit alarm group Building 1")
    shoot(page, "group-errors-en")
    assert services.sites.group("b1").name == "Building 1"


def test_removing_is_refused_while_a_group_has_subgroups_or_users(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    page.goto(server.url + "/groups")
    # Not offered while it cannot work; the card says what to do first.
    b1 = page.locator('li[data-group="b1"] > section')
    expect(b1.locator("summary")).to_have_count(0)
    expect(b1.locator(".remove-blocked")).to_contain_text("first move or remove its subgroups")
    shoot(page, "groups-remove-refused-en")

    services.sites.update_user("anna", {"groups": ["sr"]})
    page.goto(server.url + "/groups")
    room = page.locator('li[data-group="sr"] > section')
    expect(room.locator("summary")).to_have_count(0)
    assert len(services.sites.groups()) == 3

    services.sites.update_user("anna", {"groups": ["b1"]})
    page.goto(server.url + "/groups")
    room.locator("summary").click()
    expect(room.locator(".confirm-box")).to_contain_text("Only a group without subgroups")
    room.get_by_role("button", name="Yes, remove").click()
    expect(page.locator("#done")).to_have_text("Alarm group Server room removed.")
    assert [g.id for g in services.sites.groups()] == ["hq", "b1"]


def test_the_group_pages_in_german(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    site(services)
    page = signed_in
    speak_german(page)
    page.goto(server.url + "/groups")
    expect(
        page.locator('li[data-group="sr"] > section tr[data-category="always"]')
    ).to_contain_text("Geerbt von Building 1")
    shoot(page, "groups-tree-de")
    page.get_by_role("link", name="Alarmgruppe anlegen").click()
    expect(page.locator("#f-mode-fire-from")).to_contain_text("Standard: Warnungen ja, unbegrenzt")
    page.get_by_label("ID", exact=True).fill("keller")
    page.get_by_label("Name", exact=True).fill("Keller")
    page.get_by_label("Übergeordnete Gruppe").select_option("hq")
    page.locator("#f-mode-fire-own").check()
    page.locator("#f-cap-fire").fill("0")
    page.get_by_role("button", name="Gruppe anlegen").click()
    expect(page.locator("#f-policy-fire-error")).to_contain_text("ganze Zahl von 1 bis 100000")
    shoot(page, "group-errors-de")
    page.locator("#f-cap-fire").fill("")
    page.get_by_role("button", name="Gruppe anlegen").click()
    expect(page.locator("#done")).to_have_text("Alarmgruppe Keller angelegt.")
    assert services.sites.group("keller").settings.own(Category.FIRE) == CategoryPolicy(
        email_warnings=True, max_per_hour=None
    )
