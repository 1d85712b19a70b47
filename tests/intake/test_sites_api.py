"""REST for alarm groups, users and the whole site, over a real HTTP server (admins only)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tocsin.services.context import Services


def _fields(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(i["field"], i["code"]) for i in answer.json()["issues"]]


def test_groups_list_with_paths_and_effective_settings(admin: httpx.Client) -> None:
    groups = admin.get("/api/v1/groups").json()["groups"]
    assert [g["id"] for g in groups] == ["site", "building-a", "server-room", "office"]
    room = groups[2]
    assert room["path"] == ["Site", "Building A", "Server room"]
    assert room["policies"] == {}
    assert room["effective"]["always"] == {"email_warnings": False, "max_per_hour": 3}
    assert room["effective"]["fire"] == {"email_warnings": True, "max_per_hour": None}


def test_group_create_update_delete(admin: httpx.Client) -> None:
    created = admin.post("/api/v1/groups", json={"id": "lab", "name": "Lab", "parent": "site"})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == ["Site", "Lab"]
    changed = admin.patch(
        "/api/v1/groups/lab",
        json={"name": "Lab 2", "policies": {"fire": {"email_warnings": False}}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["policies"] == {"fire": {"email_warnings": False, "max_per_hour": None}}
    inherit = admin.patch("/api/v1/groups/lab", json={"policies": {"fire": "inherit"}})
    assert inherit.json()["policies"] == {}
    assert admin.get("/api/v1/groups/lab").json()["name"] == "Lab 2"
    assert admin.delete("/api/v1/groups/lab").status_code == 204
    assert admin.get("/api/v1/groups/lab").status_code == 404
    assert admin.delete("/api/v1/groups/lab").status_code == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "site", "name": "Again"}, ("id", "duplicate_id")),
        ({"id": "x", "name": "X", "parent": "nowhere"}, ("parent", "group_unknown_parent")),
        ({"id": "bad id", "name": "X"}, ("id", "invalid_value")),
        ({"id": "x"}, ("name", "field_missing")),
        ({"id": "x", "name": "A\r\nBcc: e@example.net"}, ("name", "field_unsafe")),
        ({"id": "x", "name": "=?utf-8?b?QQ==?="}, ("name", "field_unsafe")),
        ({"id": "x", "name": "X", "policies": {"smoke": {}}}, ("policies.smoke", "field_choice")),
        (
            {"id": "x", "name": "X", "policies": {"fire": {"max_per_hour": 0}}},
            ("policies.fire.max_per_hour", "field_range"),
        ),
        ({"id": "x", "name": "X", "colour": "red"}, ("colour", "field_unknown")),
    ],
)
def test_bad_groups_are_refused_naming_the_field(
    admin: httpx.Client, body: dict[str, Any], expected: tuple[str, str]
) -> None:
    answer = admin.post("/api/v1/groups", json=body)
    assert answer.status_code in (409, 422), answer.text
    assert expected in _fields(answer)
    assert len(admin.get("/api/v1/groups").json()["groups"]) == 4


def test_a_cycle_and_a_group_in_use_are_refused(admin: httpx.Client) -> None:
    cycle = admin.patch("/api/v1/groups/site", json={"parent": "server-room"})
    assert cycle.status_code == 422
    assert _fields(cycle) == [("parent", "group_cycle")]
    assert "'site'" in cycle.json()["issues"][0]["message"]
    busy = admin.delete("/api/v1/groups/office")
    assert busy.status_code == 409
    assert "carol" in busy.json()["issues"][0]["message"]
    renamed = admin.patch("/api/v1/groups/site", json={"id": "other"})
    assert _fields(renamed) == [("id", "id_change")]


def test_users_crud_with_validation(admin: httpx.Client) -> None:
    body = {
        "id": "erin",
        "name": "Erin",
        "email": "erin@Example.COM",
        "time_zone": "America/New_York",
        "groups": ["office"],
    }
    created = admin.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "erin@example.com"  # the domain normalised
    assert created.json()["categories"] == []  # email stays off until chosen
    changed = admin.patch("/api/v1/users/erin", json={"categories": ["fire"], "enabled": False})
    assert changed.json()["categories"] == ["fire"]
    assert changed.json()["enabled"] is False
    assert [u["id"] for u in admin.get("/api/v1/users").json()["users"]][-1] == "erin"
    assert admin.delete("/api/v1/users/erin").status_code == 204
    assert admin.get("/api/v1/users/erin").status_code == 404


def test_bad_users_are_refused_naming_every_field(admin: httpx.Client) -> None:
    answer = admin.post(
        "/api/v1/users",
        json={
            "id": "zed",
            "name": "Zed",
            "email": "zed@@example.com",
            "language": "fr",
            "time_zone": "Mars/Olympus",
            "groups": "site",
            "categories": ["fire", "smoke"],
        },
    )
    assert answer.status_code == 422
    assert set(_fields(answer)) == {
        ("email", "invalid_address"),
        ("language", "field_choice"),
        ("time_zone", "invalid_zone"),
        ("groups", "field_type"),
        ("categories[1]", "field_choice"),
    }
    unknown = admin.post(
        "/api/v1/users", json={"id": "z", "name": "Z", "email": "z@example.com", "groups": ["x"]}
    )
    assert _fields(unknown) == [("groups", "unknown_group")]


@pytest.mark.parametrize("email", ["ops@company.local", "ops@localhost", "ops@intranet"])
def test_user_at_an_internal_domain_is_saved_with_a_warning(admin: httpx.Client, email: str):
    created = admin.post("/api/v1/users", json={"id": "int", "name": "Int", "email": email})
    assert created.status_code == 201, created.text
    (advice,) = created.json()["advice"]
    assert (advice["field"], advice["code"], advice["level"]) == (
        "email",
        "address_internal",
        "warning",
    )
    assert "mail from the internet cannot reach it" in advice["message"]
    assert admin.get("/api/v1/users/int").json()["email"] == email
    changed = admin.patch("/api/v1/users/int", json={"email": "ops@example.com"})
    assert changed.json()["advice"] == []


def test_user_address_refusal_is_our_own_sentence(admin: httpx.Client):
    answer = admin.post("/api/v1/users", json={"id": "z", "name": "Z", "email": "z example.com"})
    assert answer.status_code == 422
    (issue,) = answer.json()["issues"]
    assert issue["message"] == "Not a valid email address: it contains a space."


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/users", b'{"id": "k", "name": "K", "email": "k@example.com", "id": "root"}'),
        ("/api/v1/groups", b'{"id": "k", "name": "K", "parent": "site", "name": "X"}'),
        (
            "/api/v1/events",
            b'{"group": "site", "device": "D", "sensor": "S", '
            b'"category": "fire", "severity": "alarm", "severity": "warning"}',
        ),
    ],
)
def test_a_key_twice_is_refused_by_every_json_route(
    admin: httpx.Client, path: str, body: bytes
) -> None:
    answer = admin.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "json_duplicate_key"
    assert "appears twice" in answer.json()["issues"][0]["message"]


def test_site_export_and_import(admin: httpx.Client, services: Services) -> None:
    site = admin.get("/api/v1/site").json()
    site["users"] = [u for u in site["users"] if u["id"] != "dave"]
    site["groups"].append({"id": "roof", "name": "Roof", "parent": "site"})
    dry = admin.put("/api/v1/site", params={"dry_run": "true"}, json=site)
    assert dry.json()["applied"] is False
    assert dry.json()["users"]["removed"] == ["dave"]
    assert services.sites.user("dave")  # nothing changed yet
    done = admin.put("/api/v1/site", json=site).json()
    assert done["groups"]["added"] == ["roof"]
    assert [u.id for u in services.sites.users()] == ["alice", "bob", "carol"]
    broken = admin.put("/api/v1/site", json={"groups": [{"id": "a", "name": "A", "parent": "a"}]})
    assert broken.status_code == 422
    assert _fields(broken) == [("groups[0].parent", "invalid_value")]


def test_session_cookies_need_csrf_for_changes(server: Any, services: Services) -> None:
    services.accounts.create_admin("root", "a long admin passphrase")
    session_id, session = services.accounts.login("root", "a long admin passphrase", client="t")
    cookies = {"tocsin_session": session_id}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=10) as browser:
        assert browser.get("/api/v1/groups").status_code == 200
        refused = browser.post("/api/v1/groups", json={"id": "x", "name": "X"})
        assert refused.status_code == 403
        ok = browser.post(
            "/api/v1/groups",
            json={"id": "x", "name": "X"},
            headers={"X-CSRF-Token": session.csrf_token},
        )
        assert ok.status_code == 201
