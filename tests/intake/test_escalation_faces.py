"""Escalation policies through the faces: REST API, site YAML, CLI, and the event JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from intake_support import Clock, event
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.services.context import Services
from tocsin.services.escalation import EscalationService
from tocsin.services.inputs import InputRefused

FIRE_POLICY: dict[str, Any] = {
    "categories": ["fire", "sabotage"],
    "steps": [{"after_minutes": 5, "users": ["carol"]}],
    "remind_every": 10,
    "remind_max": 2,
}


def _fields(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(i["field"], i["code"]) for i in answer.json()["issues"]]


def test_the_group_api_sets_and_shows_the_policy_and_its_inheritance(
    admin: httpx.Client,
) -> None:
    changed = admin.patch("/api/v1/groups/site", json={"escalation": FIRE_POLICY})
    assert changed.status_code == 200, changed.text
    assert changed.json()["escalation"] == FIRE_POLICY
    room = admin.get("/api/v1/groups/server-room").json()
    assert room["escalation"] is None
    assert room["effective_escalation"] == {"from": "site", **FIRE_POLICY}
    off = admin.patch("/api/v1/groups/building-a", json={"escalation": {"categories": []}})
    assert off.status_code == 200, off.text
    room = admin.get("/api/v1/groups/server-room").json()
    assert room["effective_escalation"]["from"] == "building-a"
    admin.patch("/api/v1/groups/building-a", json={"escalation": "inherit"})
    assert admin.get("/api/v1/groups/server-room").json()["effective_escalation"]["from"] == "site"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"categories": ["fire"], "steps": [{"after_minutes": 5, "users": ["zed"]}]},
         ("escalation", "escalation_unknown_user")),
        ({"categories": ["flood"]}, ("escalation.categories", "escalation_category")),
        ({"categories": ["fire"], "steps": [{"after_minutes": 0, "users": ["carol"]}]},
         ("escalation.after_minutes", "escalation_minutes")),
        ({"categories": ["fire"], "remind_every": 5, "remind_max": 99},
         ("escalation.remind_max", "escalation_remind")),
        ({"categories": ["fire"], "other": 1}, ("escalation", "escalation_shape")),
    ],
)  # fmt: skip
def test_bad_policies_are_refused_naming_the_field_and_nothing_changes(
    admin: httpx.Client, policy: dict[str, Any], expected: tuple[str, str]
) -> None:
    answer = admin.patch("/api/v1/groups/site", json={"escalation": policy, "name": "New"})
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == [expected]
    assert answer.json()["issues"][0]["message"]
    site = admin.get("/api/v1/groups/site").json()
    assert (site["name"], site["escalation"]) == ("Site", None)


def test_the_site_file_carries_the_policies_both_ways(services: Services) -> None:
    services.sites.update_group("site", {"escalation": FIRE_POLICY})
    exported = services.sites.export_site()
    text = yaml.safe_dump(exported)
    assert "escalation" in text
    services.sites.update_group("site", {"escalation": None})
    assert services.escalation.policies() == {}
    report = services.sites.import_site(yaml.safe_load(text))
    assert report.applied
    assert services.sites.group_dict(services.sites.group("site"))["escalation"] == FIRE_POLICY


def test_a_site_file_naming_an_unknown_user_is_refused_whole(services: Services) -> None:
    site = services.sites.export_site()
    site["groups"][0]["escalation"] = {
        "categories": ["fire"],
        "steps": [{"after_minutes": 5, "users": ["nobody"]}],
    }
    site["groups"][0]["name"] = "Renamed"
    with pytest.raises(InputRefused) as caught:
        services.sites.import_site(site)
    assert [i.code for i in caught.value.issues] == ["escalation_unknown_user"]
    assert services.sites.group("site").name == "Site"
    bad = services.sites.export_site()
    bad["groups"][1]["escalation"] = {"categories": ["fire"], "steps": "x"}
    with pytest.raises(InputRefused) as caught:
        services.sites.import_site(bad)
    assert [(i.field, i.code) for i in caught.value.issues] == [
        ("groups[1].escalation", "escalation_shape")
    ]


def test_german_refusals_read_german(services: Services) -> None:
    with pytest.raises(InputRefused) as caught:
        services.sites.update_group(
            "site", {"escalation": {"categories": ["fire"], "steps": [
                {"after_minutes": 9, "users": ["carol"]}, {"after_minutes": 5, "users": ["bob"]}
            ]}}
        )  # fmt: skip
    (found,) = caught.value.issues
    assert "wachsen" in found.text("de")
    assert "grow" in found.text("en")


def test_the_event_json_shows_the_escalation_state(
    admin: httpx.Client, services: Services, clock: Clock
) -> None:
    services.sites.update_group("site", {"escalation": FIRE_POLICY})
    (accepted,) = services.events.submit(event())
    shown = admin.get(f"/api/v1/events/{accepted.id}").json()
    assert shown["escalation"]["steps_total"] == 1
    assert shown["escalation"]["steps_done"] == 0
    assert shown["escalation"]["reminders_total"] == 2
    assert shown["escalation"]["next_due_at"].endswith("Z")
    escalation = EscalationService(
        services.store,
        sites=services.sites,
        events=services.events,
        outbox=services.outbox,
        clock=clock,
    )
    escalation.fire_due(clock.now + 5 * 60)
    listed = admin.get("/api/v1/events").json()["events"][0]
    assert listed["escalation"]["steps_done"] == 1
    warning = services.events.submit(event(severity="warning", device="Other"))[0]
    assert admin.get(f"/api/v1/events/{warning.id}").json()["escalation"] is None


def test_the_cli_sets_shows_and_refuses(tmp_path: Path, services: Services) -> None:
    runner = CliRunner()
    env = {"TOCSIN_DATA": str(services.data), "COLUMNS": "200", "NO_COLOR": "1"}

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result.stdout + result.stderr

    said = cli(
        "group", "set-escalation", "site", "--category", "fire", "--category", "sabotage",
        "--step", "5:carol", "--step", "15:bob,alice", "--remind-every", "10", "--remind-max", "3",
    )  # fmt: skip
    assert "after 5 min → carol; after 15 min → bob, alice" in said
    assert "(from 'site')" in cli("group", "show-escalation", "office")
    cli("group", "set-escalation", "office", "--off")
    assert "off" in cli("group", "show-escalation", "office")
    cli("group", "set-escalation", "office", "--inherit")
    assert "(from 'site')" in cli("group", "show-escalation", "office")
    refused = cli(
        "group", "set-escalation", "site", "--category", "fire", "--step", "5:zed", code=2
    )
    assert "zed" in refused
    assert "Nothing was changed" in refused
    assert "--step" in cli(
        "group", "set-escalation", "site", "--category", "fire", "--step", "5", code=2
    )
    assert "--category" in cli("group", "set-escalation", "site", code=2)
    assert "not both" in cli("group", "set-escalation", "site", "--off", "--inherit", code=2)
