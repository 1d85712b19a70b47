"""`tocsin group|user|event|site`: the real CLI on a real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.services.context import Services


class Tocsin:
    """Runs the CLI in process against one data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> tuple[str, str]:
        env = {"TOCSIN_DATA": str(self.data), "COLUMNS": "200", "NO_COLOR": "1"}
        result = self.runner.invoke(app, list(args), env=env, input=stdin)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result.stdout, result.stderr


@pytest.fixture
def tocsin(tmp_path: Path) -> Tocsin:
    cli = Tocsin(tmp_path / "data")
    cli("settings", "set", "sender_address=alarm@example.com")
    cli("group", "add", "site", "--name", "Site")
    cli("group", "add", "room", "--name", "Server room", "--parent", "site")
    cli(
        "user", "add", "alice", "--name", "Alice", "--email", "alice@example.com",
        "--group", "room", "--category", "fire", "--category", "always",
    )  # fmt: skip
    return cli


def _services(tocsin: Tocsin) -> Services:
    return Services.open(tocsin.data)


def test_groups_from_the_shell(tocsin: Tocsin) -> None:
    out, _ = tocsin("group", "set-policy", "site", "--category", "always", "--no-warnings",
                    "--max-per-hour", "5")  # fmt: skip
    assert "alarms only, at most 5 per hour" in out
    out, _ = tocsin("group", "list")
    assert out.splitlines() == ["site  Site  always: alarms only, ≤5/h", "  room  Server room"]
    listed = json.loads(tocsin("group", "list", "--json")[0])
    assert listed[1]["effective"]["always"]["max_per_hour"] == 5
    tocsin("group", "set-policy", "site", "--category", "always", "--inherit")
    tocsin("group", "add", "lab", "--name", "Lab", "--parent", "site")
    tocsin("group", "set", "lab", "--parent", "room")
    tocsin("group", "remove", "lab")
    _, err = tocsin("group", "remove", "room", code=2)
    assert "alice" in err
    _, err = tocsin("group", "add", "x", "--name", "X", "--parent", "nope", code=2)
    assert "--parent" in err
    assert "Nothing was changed" in err


def test_users_from_the_shell(tocsin: Tocsin) -> None:
    _, err = tocsin(
        "user", "add", "bob", "--name", "Bob", "--email", "bob@@example.com",
        "--time-zone", "Mars/Base", "--category", "smoke", code=2,
    )  # fmt: skip
    assert "--email" in err
    assert "--time-zone: Unknown time zone 'Mars/Base'" in err
    assert "--category: 'smoke' is not one of" in err
    out, _ = tocsin("user", "assign", "alice", "--group", "site")
    assert "room, site" in out
    tocsin("user", "assign", "alice", "--group", "room", "--remove")
    out, _ = tocsin("user", "categories", "alice", "fire", "sabotage")
    assert "fire, sabotage" in out
    tocsin("user", "disable", "alice")
    (alice,) = json.loads(tocsin("user", "list", "--json")[0])
    assert alice == {
        "id": "alice",
        "name": "Alice",
        "email": "alice@example.com",
        "language": "en",
        "time_zone": "UTC",
        "enabled": False,
        "groups": ["site"],
        "categories": ["fire", "sabotage"],
        "quiet_hours": [],
        "quiet_until": None,
    }
    tocsin("user", "enable", "alice")
    _, err = tocsin("user", "disable", "nobody", code=2)
    assert "no user with the id 'nobody'" in err


def test_events_from_the_shell(tocsin: Tocsin) -> None:
    out, _ = tocsin(
        "event", "raise", "--group", "room", "--device", "Smoke detector 2", "--sensor", "smoke",
        "--category", "fire", "--severity", "alarm", "--value", "41.5", "--unit", "°C",
        "--threshold", "35", "--text", "Rauch im Serverraum", "--client-id", "cli-1",
    )  # fmt: skip
    assert "1 emails queued" in out
    out, _ = tocsin(
        "event", "raise", "--group", "room", "--device", "Smoke detector 2", "--sensor", "smoke",
        "--category", "fire", "--severity", "alarm", "--value", "41.5", "--unit", "°C",
        "--threshold", "35", "--text", "Rauch im Serverraum", "--client-id", "cli-1",
    )  # fmt: skip
    assert "nothing new" in out
    out, _ = tocsin(
        "event", "clear", "--group", "room", "--device", "Smoke detector 2", "--sensor",
        "smoke", "--category", "fire",
    )  # fmt: skip
    assert "1 emails queued" in out
    events = json.loads(tocsin("event", "list", "--json")[0])
    assert [e["state"] for e in events] == ["cleared", "raised"]
    assert events[0]["clears"] == events[1]["id"]
    assert events[1]["value"] == 41.5
    _, err = tocsin(
        "event", "raise", "--group", "nope", "--device", "D\r\nBcc: x@example.net",
        "--sensor", "s", "--category", "fire", "--severity", "alarm", code=2,
    )  # fmt: skip
    assert "--group: There is no alarm group 'nope'" in err
    assert "--device" in err
    _, err = tocsin(
        "event", "raise", "--group", "room", "--device", "D", "--sensor", "s",
        "--category", "smoke", "--severity", "alarm", code=2,
    )  # fmt: skip
    assert "smoke" in err


def test_the_site_file_round_trips(tocsin: Tocsin, tmp_path: Path) -> None:
    file = tmp_path / "site.yaml"
    tocsin("site", "export", str(file))
    text = file.read_text()
    assert "name: Server room" in text
    edited = text.replace("name: Alice", "name: Alice Ä").replace(
        "users:", "- id: roof\n  name: Roof\n  parent: site\n  policies: {}\nusers:"
    )
    file.write_text(edited)
    out, _ = tocsin("site", "import", str(file), "--dry-run")
    assert "groups added: roof" in out
    assert "users changed: alice" in out
    out, _ = tocsin("site", "import", str(file))
    assert "Site imported" in out
    assert tocsin("site", "export", "-")[0] == edited
    file.write_text("groups:\n  - id: a\n    name: [unclosed\n")
    _, err = tocsin("site", "import", str(file), code=2)
    assert "file: not valid YAML at line 4" in err
    file.write_text("users:\n  - {id: z, name: Z, email: z@example.com, groups: [nowhere]}\n")
    _, err = tocsin("site", "import", str(file), "--merge", code=2)
    assert "users[0].groups: There is no alarm group 'nowhere'" in err
    _, err = tocsin("site", "import", str(tmp_path / "missing.yaml"), code=2)
    assert "cannot read" in err


def test_the_installed_command_raises_an_event(tocsin: Tocsin) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tocsin.data), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tocsin", "event", "raise", "--group", "site", "--device", "Door",
         "--sensor", "contact", "--category", "armed", "--severity", "alarm"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "accepted: 0 emails queued" in done.stdout  # Alice has no armed email


def test_an_alarm_is_acknowledged_from_the_shell(tocsin: Tocsin) -> None:
    """`tocsin event ack` (issue 13): once, with a name; a second time changes nothing."""
    out, _ = tocsin(
        "event", "raise", "--group", "room", "--device", "Detector", "--sensor", "smoke",
        "--category", "fire", "--severity", "alarm",
    )  # fmt: skip
    event_id = out.split()[2]
    out, _ = tocsin("event", "ack", event_id, "--by", "Night shift")
    assert f"Event {event_id} acknowledged by Night shift" in out
    out, _ = tocsin("event", "ack", event_id, "--by", "Someone else", "--json")
    answer = json.loads(out)
    assert (answer["new"], answer["by"], answer["via"]) == (False, "Night shift", "cli")
    services = _services(tocsin)
    try:
        record = services.events.get(event_id)
        assert record is not None
        assert record.ack is not None
        assert record.ack.by == "Night shift"
    finally:
        services.close()
    _, err = tocsin("event", "ack", "01J0000000000000000000000X", code=2)
    assert "no event" in err
    out, _ = tocsin(
        "event", "raise", "--group", "room", "--device", "Thermo", "--sensor", "t",
        "--category", "always", "--severity", "warning",
    )  # fmt: skip
    _, err = tocsin("event", "ack", out.split()[2], code=2)
    assert "Only a raised alarm" in err


def test_the_public_address_from_the_shell(tocsin: Tocsin) -> None:
    """`tocsin settings public-url` (issue 13): shown, checked, saved, warned, removed."""
    out, _ = tocsin("settings", "public-url")
    assert "No public address is set" in out
    _, err = tocsin("settings", "public-url", "https://u:p@tocsin.example.com", code=2)
    assert "Leave the user name and password out" in err
    out, _ = tocsin("settings", "public-url", "http://tocsin.lan/")
    assert "Public address saved" in out
    assert "unencrypted" in out
    out, _ = tocsin("settings", "public-url")
    assert out.strip() == "http://tocsin.lan"
    out, _ = tocsin("settings", "public-url", "--clear")
    assert "removed" in out
    services = _services(tocsin)
    try:
        assert services.public_url.get() is None
    finally:
        services.close()
