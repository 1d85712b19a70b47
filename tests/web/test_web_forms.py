"""Big forms: a site with hundreds of alarm groups, one checkbox each in the user form.

The form reader takes as many fields as the sites service takes groups for a user
(1,000) and refuses a form past its bound whole, never cut.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from playwright.sync_api import APIResponse, Page, expect

from helpers import LiveServer
from tocsin.services.context import Services
from tocsin.web.forms import MAX_FIELDS


def _site(services: Services, *, groups: int, member_of: range) -> None:
    """Groups "Group 000"… as a tree (ten top-level, ten subgroups each below) and a user,
    ops, in the groups numbered ``member_of``."""
    services.sites.import_site(
        {
            "groups": [
                {"id": f"g{i:03}", "name": f"Group {i:03}"}
                | ({"parent": f"g{i // 10 - 1:03}"} if i >= 10 else {})
                for i in range(groups)
            ],
            "users": [
                {
                    "id": "ops",
                    "name": "Ops desk",
                    "email": "ops@example.net",
                    "groups": [f"g{i:03}" for i in member_of],
                    "categories": ["fire"],
                }
            ],
        }
    )


def _post(page: Page, url: str, fields: list[tuple[str, str]]) -> APIResponse:
    """POST ``fields`` as the page's form would, with its session and CSRF token."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return page.request.post(
        url,
        data=urlencode([("csrf_token", token), *fields]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        max_redirects=0,
    )


def _user_form(groups: range) -> list[tuple[str, str]]:
    fixed = [("name", "Ops desk"), ("email", "ops@example.net"), ("language", "en")]
    fixed += [("time_zone", "UTC"), ("enabled", "on"), ("categories", "fire")]
    return fixed + [("groups", f"g{i:03}") for i in groups]


def test_a_user_of_a_site_with_300_groups_is_put_in_group_299_through_the_page(
    signed_in: Page, server: LiveServer, services: Services, shoot: Callable[[Page, str], None]
) -> None:
    # In 250 groups already: the form sends a field per ticked box, more than 200 in all.
    # They are rooms (g030…g279 have no subgroups), so none is covered by another: a
    # group under a ticked one would show locked and not be sent (test_web_round_two).
    _site(services, groups=300, member_of=range(30, 280))
    page = signed_in
    page.goto(server.url + "/users/ops/edit")
    boxes = page.locator("#f-groups input[type=checkbox]")
    expect(boxes).to_have_count(300)
    expect(page.locator("#f-groups input[type=checkbox]:checked")).to_have_count(250)
    last = page.get_by_label("Group 299", exact=True)
    expect(last).not_to_be_checked()
    last.check()
    page.get_by_role("button", name="Save user").click()

    expect(page.locator("#done")).to_have_text("User Ops desk saved.")
    row = page.locator('tr[data-user="ops"]')
    expect(row).to_contain_text("Group 001 / Group 028 / Group 299")
    ops = services.sites.user("ops")
    assert len(ops.group_ids) == 251
    assert "g299" in ops.group_ids
    assert "g280" not in ops.group_ids
    page.goto(server.url + "/users/ops/edit")
    expect(page.get_by_label("Group 299", exact=True)).to_be_checked()
    shoot(page, "user-edit-300-groups-en")


def test_the_form_takes_as_many_groups_as_the_service_allows(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    _site(services, groups=1000, member_of=range(0))
    edit = server.url + "/users/ops/edit"
    answer = _post(signed_in, edit, _user_form(range(1000)))
    assert answer.status == 303, answer.text()
    assert answer.headers["location"] == "/users?done=saved&name=Ops+desk"
    assert len(services.sites.user("ops").group_ids) == 1000


def test_a_form_past_the_bound_is_refused_whole(
    signed_in: Page, server: LiveServer, services: Services
) -> None:
    _site(services, groups=20, member_of=range(1))
    edit = server.url + "/users/ops/edit"
    form = _user_form(range(20))
    answer = _post(signed_in, edit, form + [("x", "")] * (MAX_FIELDS - len(form)))
    assert answer.status == 400
    assert "could not be read" in answer.text()
    assert services.sites.user("ops").group_ids == frozenset({"g000"})  # nothing saved

    # One field fewer is a form like any other.
    answer = _post(signed_in, edit, form + [("x", "")] * (MAX_FIELDS - len(form) - 1))
    assert answer.status == 303
    assert len(services.sites.user("ops").group_ids) == 20
