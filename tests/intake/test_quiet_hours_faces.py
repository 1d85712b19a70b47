"""Quiet hours and acknowledged warnings through the REST API (a real HTTP server), the CLI
and the site YAML: saved, shown, refused with the field named (issue 13)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.services.backup import make_backup, restore_backup
from tocsin.services.context import Services
from tocsin.services.inputs import InputRefused
from tocsin.services.sites import dump_site, load_site

NIGHTS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "07:00"}
WEEKEND = {"days": ["sat", "sun"], "start": "00:00", "end": "00:00"}


def _issues(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(i["field"], i["code"]) for i in answer.json()["issues"]]


def test_the_api_saves_and_shows_quiet_hours(admin: httpx.Client) -> None:
    answer = admin.patch("/api/v1/users/alice", json={"quiet_hours": [NIGHTS, WEEKEND]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["quiet_hours"] == [NIGHTS, WEEKEND]
    shown = admin.get("/api/v1/users/alice").json()
    assert shown["quiet_hours"] == [NIGHTS, WEEKEND]
    assert "quiet_until" in shown  # read only: null unless Alice is quiet right now
    always = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "00:00",
    }
    quiet = admin.patch("/api/v1/users/alice", json={"quiet_hours": [always]}).json()
    assert quiet["quiet_until"] is not None
    assert quiet["quiet_until"].endswith("Z")
    cleared = admin.patch("/api/v1/users/alice", json={"quiet_hours": []}).json()
    assert (cleared["quiet_hours"], cleared["quiet_until"]) == ([], None)
    listed = admin.get("/api/v1/users").json()["users"]
    assert all("quiet_hours" in u and "quiet_until" in u for u in listed)


@pytest.mark.parametrize(
    ("quiet", "expected"),
    [
        ([{**NIGHTS, "start": "25:00"}], ("quiet_hours[0].start", "quiet_time")),
        ([NIGHTS, {**NIGHTS, "end": "7pm"}], ("quiet_hours[1].end", "quiet_time")),
        ([{**NIGHTS, "days": ["mon", "funday"]}], ("quiet_hours[0].days", "quiet_day")),
        ([{**NIGHTS, "days": []}], ("quiet_hours[0].days", "quiet_no_days")),
        ([{"days": ["mon"], "start": "", "end": ""}], ("quiet_hours[0].start", "quiet_time")),
        ("22:00-07:00", ("quiet_hours", "quiet_shape")),
        ([{**NIGHTS, "zone": "UTC"}], ("quiet_hours[0]", "quiet_shape")),
    ],
)
def test_the_api_refuses_bad_quiet_hours_naming_the_field(
    admin: httpx.Client, quiet: object, expected: tuple[str, str]
) -> None:
    answer = admin.patch(
        "/api/v1/users/alice", json={"quiet_hours": quiet}, headers={"Accept-Language": "de"}
    )
    assert answer.status_code == 422, answer.text
    assert _issues(answer) == [expected]
    (issue,) = answer.json()["issues"]
    assert issue["message"]
    assert admin.get("/api/v1/users/alice").json()["quiet_hours"] == []  # nothing saved


def test_overlapping_windows_are_allowed(admin: httpx.Client) -> None:
    overlapping = [NIGHTS, {"days": ["mon"], "start": "21:00", "end": "23:00"}]
    answer = admin.patch("/api/v1/users/alice", json={"quiet_hours": overlapping})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["quiet_hours"]) == 2


def test_the_api_sets_a_groups_ack_warnings(admin: httpx.Client) -> None:
    room = admin.get("/api/v1/groups/server-room").json()
    assert (room["ack_warnings"], room["effective_ack_warnings"]) == ("inherit", False)
    assert admin.patch("/api/v1/groups/site", json={"ack_warnings": True}).status_code == 200
    room = admin.get("/api/v1/groups/server-room").json()
    assert (room["ack_warnings"], room["effective_ack_warnings"]) == ("inherit", True)
    bad = admin.patch("/api/v1/groups/site", json={"ack_warnings": "yes please"})
    assert bad.status_code == 422
    assert _issues(bad) == [("ack_warnings", "field_type")]
    back = admin.patch("/api/v1/groups/site", json={"ack_warnings": "inherit"}).json()
    assert back["ack_warnings"] == "inherit"


def test_the_site_yaml_carries_quiet_hours_and_ack_warnings(services: Services) -> None:
    services.sites.update_user("alice", {"quiet_hours": [NIGHTS, WEEKEND]})
    services.sites.update_group("office", {"ack_warnings": True})
    text = dump_site(services.sites.export_site())
    assert "quiet_hours:" in text
    assert "ack_warnings: true" in text
    services.sites.update_user("alice", {"quiet_hours": []})
    services.sites.update_group("office", {"ack_warnings": "inherit"})
    assert services.sites.import_site(load_site(text)).applied
    assert services.sites.user("alice").quiet_hours != ()
    assert services.sites.group("office").ack_warnings is True
    broken = text.replace("start: '22:00'", "start: '22:61'")
    assert broken != text
    with pytest.raises(InputRefused) as refused:
        services.sites.import_site(load_site(broken), dry_run=True)
    assert [i.field for i in refused.value.issues] == ["users[0].quiet_hours[0].start"]


def _cli(data: Path, *args: str, code: int = 0) -> tuple[str, str]:
    env = {"TOCSIN_DATA": str(data), "COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result.stdout, result.stderr


def test_the_cli_sets_shows_and_refuses_quiet_hours(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _cli(data, "group", "add", "site", "--name", "Site")
    _cli(
        data, "user", "add", "anna", "--name", "Anna", "--email", "anna@example.com",
        "--time-zone", "Europe/Berlin", "--group", "site",
    )  # fmt: skip
    out, _ = _cli(data, "user", "quiet", "anna", "mon-fri 22:00-07:00", "sat,sun 00:00-00:00")
    assert "mon-fri 22:00-07:00; sat,sun 00:00-00:00 (Europe/Berlin)" in out
    out, _ = _cli(data, "user", "list")
    assert "quiet hours: mon-fri 22:00-07:00; sat,sun 00:00-00:00" in out
    _, err = _cli(data, "user", "quiet", "anna", "mon-fri 25:00-07:00", code=2)
    assert "WINDOW: '25:00' is not a time of day" in err
    _, err = _cli(data, "user", "quiet", "anna", "funday 22:00-07:00", code=2)
    assert "'funday' is not a day" in err
    _, err = _cli(data, "user", "quiet", "anna", "22:00-07:00", code=2)
    assert "is not a quiet-hours window" in err
    _, err = _cli(data, "user", "quiet", "nobody", code=2)
    assert "nobody" in err
    out, _ = _cli(data, "user", "quiet", "anna")
    assert "quiet hours: none" in out
    out, _ = _cli(data, "user", "quiet", "anna", "mon-sun 00:00-00:00")
    out, _ = _cli(data, "user", "list")
    assert "(always quiet: only fire and sabotage alarms are emailed)" in out


def test_the_cli_sets_ack_warnings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _cli(data, "group", "add", "site", "--name", "Site")
    out, _ = _cli(data, "group", "ack-warnings", "site", "yes")
    assert "acknowledge warnings: yes" in out
    _, err = _cli(data, "group", "ack-warnings", "site", "maybe", code=2)
    assert "give yes, no or inherit" in err
    _cli(data, "group", "ack-warnings", "site", "inherit")


def test_quiet_hours_and_ack_warnings_survive_backup_and_restore(tmp_path: Path) -> None:
    data, other = tmp_path / "data", tmp_path / "other"
    _cli(data, "group", "add", "site", "--name", "Site")
    _cli(data, "group", "ack-warnings", "site", "no")
    _cli(data, "user", "add", "anna", "--name", "Anna", "--email", "anna@example.com")
    _cli(data, "user", "quiet", "anna", "sun-thu 22:00-07:00")
    make_backup(tmp_path / "backup", data=data, passphrase="correct horse battery")
    restore_backup(tmp_path / "backup", data=other, passphrase="correct horse battery")
    restored = Services.open(other)
    try:
        (window,) = restored.sites.user("anna").quiet_hours
        assert window.text() == "sun-thu 22:00-07:00"
        assert restored.sites.group("site").ack_warnings is False
    finally:
        restored.close()
