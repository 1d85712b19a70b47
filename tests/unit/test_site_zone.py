"""The site's zone: the server's local zone as the system names it ($TZ, /etc/localtime,
/etc/timezone), and what new users start in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.services.site_input import parse_user
from tocsin.services.site_zone import known_zones, system_zone, valid_zone
from tocsin.validation import Issue

ZONEINFO = Path("/usr/share/zoneinfo")


def _link(tmp_path: Path, zone: str) -> Path:
    link = tmp_path / "localtime"
    link.symlink_to(ZONEINFO / zone)
    return link


def test_tz_wins_with_or_without_its_leading_colon(tmp_path: Path) -> None:
    link = _link(tmp_path, "Asia/Tokyo")
    none = tmp_path / "missing"
    assert system_zone({"TZ": "Europe/Berlin"}, localtime=link, timezone_file=none) == (
        "Europe/Berlin"
    )
    assert system_zone({"TZ": ":America/New_York"}, localtime=link, timezone_file=none) == (
        "America/New_York"
    )


@pytest.mark.parametrize("tz", ["", "CET-1CEST,M3.5.0,M10.5.0/3", "Mars/Olympus", "/etc/passwd"])
def test_a_tz_that_names_no_zone_falls_back_to_the_localtime_link(tmp_path: Path, tz: str) -> None:
    link = _link(tmp_path, "Europe/Vienna")
    assert system_zone({"TZ": tz}, localtime=link, timezone_file=tmp_path / "x") == "Europe/Vienna"


def test_then_etc_timezone_then_utc(tmp_path: Path) -> None:
    plain_file = tmp_path / "localtime"
    plain_file.write_bytes(b"TZif not a link")  # a copied zone file names no zone
    timezone = tmp_path / "timezone"
    timezone.write_text("Europe/Lisbon\n")
    assert system_zone({}, localtime=plain_file, timezone_file=timezone) == "Europe/Lisbon"
    timezone.write_text("garbage\n")
    assert system_zone({}, localtime=plain_file, timezone_file=timezone) == "UTC"
    assert system_zone({}, localtime=tmp_path / "gone", timezone_file=tmp_path / "gone") == "UTC"


def test_the_names_of_utc_read_as_utc(tmp_path: Path) -> None:
    assert system_zone({}, localtime=_link(tmp_path, "Etc/UTC"), timezone_file=tmp_path) == "UTC"


def test_valid_and_known_zones() -> None:
    assert valid_zone("Europe/Berlin")
    assert valid_zone("UTC")
    for bad in ("", " Europe/Berlin", "../etc/passwd", "/usr/share/zoneinfo/UTC", "x" * 65):
        assert not valid_zone(bad), bad
    zones = known_zones()
    assert "UTC" in zones
    assert "Europe/Berlin" in zones
    assert list(zones) == sorted(zones)


def test_a_user_without_a_zone_gets_the_default_zone() -> None:
    issues: list[Issue] = []
    data = {"id": "bert", "name": "Bert", "email": "bert@example.org"}
    user = parse_user(data, issues=issues, default_zone="Europe/Vienna")
    assert user is not None
    assert user.time_zone == "Europe/Vienna"
    user = parse_user({**data, "time_zone": "Asia/Tokyo"}, issues=issues, default_zone="UTC")
    assert user is not None
    assert user.time_zone == "Asia/Tokyo"
    assert issues == []
