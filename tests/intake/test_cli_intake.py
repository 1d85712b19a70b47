"""`tocsin intake mapping show|set|reset` and the mapping in `tocsin site export|import`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.services.context import Services


def _cli(data: Path, *args: str, code: int = 0) -> tuple[str, str]:
    env = {"TOCSIN_DATA": str(data), "COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result.stdout, result.stderr


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_show_set_and_reset(data: Path) -> None:
    shown, _ = _cli(data, "intake", "mapping", "show")
    assert "device            device, instance, job" in shown
    assert "(the only top-level group)" in shown
    _cli(data, "intake", "mapping", "set", "device=host, instance", "default_category=fire")
    as_json, _ = _cli(data, "intake", "mapping", "show", "--json")
    mapping = json.loads(as_json)["mapping"]
    assert mapping["device"] == ["host", "instance"]
    assert mapping["default_category"] == "fire"
    services = Services.open(data)
    try:
        assert services.webhooks.mapping.load().device == ("host", "instance")
    finally:
        services.close()
    _cli(data, "intake", "mapping", "reset")
    assert json.loads(_cli(data, "intake", "mapping", "show", "--json")[0])["mapping"][
        "device"
    ] == ["device", "instance", "job"]


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        ("group=bad label", "label name"),
        ("default_severity=loud", "'loud' is not one of: warning, alarm"),
        ("colour=red", "colour"),
        ("novalue", "FIELD=VALUE"),
    ],
)
def test_bad_input_says_what_to_change_and_changes_nothing(
    data: Path, pair: str, says: str
) -> None:
    _, errors = _cli(data, "intake", "mapping", "set", pair, code=2)
    assert says in errors
    shown = json.loads(_cli(data, "intake", "mapping", "show", "--json")[0])["mapping"]
    assert shown["group"] == ["group"]


def test_the_site_file_carries_the_mapping(data: Path, tmp_path: Path) -> None:
    _cli(data, "group", "add", "site", "--name", "Site")
    _cli(data, "intake", "mapping", "set", "group=room")
    site = tmp_path / "site.yaml"
    _cli(data, "site", "export", str(site))
    text = site.read_text()
    assert "webhook_mapping:" in text
    assert "- room" in text
    _cli(data, "intake", "mapping", "reset")
    _cli(data, "site", "import", str(site))
    shown = json.loads(_cli(data, "intake", "mapping", "show", "--json")[0])["mapping"]
    assert shown["group"] == ["room"]
    # A bad mapping in the file refuses the whole import, naming the field.
    site.write_text(text.replace("- room", "- 'bad label'"))
    _, errors = _cli(data, "site", "import", str(site), code=2)
    assert "webhook_mapping.group[0]" in errors
