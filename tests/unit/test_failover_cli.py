"""``tocsin settings failover`` and ``tocsin test-email --link``, run as the admin runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tocsin.services.context import Services

PASSWORD = "Cli-L1nk-Passw0rd"


def tocsin(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_links_policy_password_and_removal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = tocsin(data, "settings", "set", "host=mail.example.com", "sender_address=a@example.com")
    assert done.returncode == 0, done.stderr
    done = tocsin(data, "settings", "failover", "link", "1", "host=b.example.net", "port=2525")
    assert done.returncode == 0, done.stderr
    done = tocsin(data, "settings", "failover", "link", "2", "host=c.example.net", "username=u")
    assert done.returncode == 0, done.stderr
    done = tocsin(data, "settings", "failover", "password", "2", "--stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    done = tocsin(data, "settings", "failover", "set", "enabled=true", "after_failures=3")
    assert done.returncode == 0, done.stderr
    refused = tocsin(data, "settings", "failover", "set", "after_seconds=-1")
    assert refused.returncode == 2
    assert "after_seconds" in refused.stderr
    secret = tocsin(data, "settings", "failover", "link", "1", f"password={PASSWORD}")
    assert secret.returncode == 2  # never on the command line
    shown = tocsin(data, "settings", "failover", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert PASSWORD not in shown.stdout
    doc = json.loads(shown.stdout)
    assert doc["after_failures"] == 3
    assert [(link["host"], link["password_set"]) for link in doc["links"]] == [
        ("b.example.net", False),
        ("c.example.net", True),
    ]
    done = tocsin(data, "settings", "failover", "remove", "1")
    assert done.returncode == 0, done.stderr
    services = Services.open(data)
    try:
        (left,) = services.failover.load().links
        assert left.host == "c.example.net"
        assert left.password is not None
        assert left.password.reveal() == PASSWORD
    finally:
        services.close()
    missing = tocsin(data, "test-email", "--to", "ops@example.net", "--link", "2")
    assert missing.returncode == 2
    assert "link" in missing.stderr + missing.stdout


def test_an_online_link_is_added_in_one_step_and_refusals_name_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = tocsin(data, "settings", "set", "host=mail.example.com", "sender_address=a@example.com")
    assert done.returncode == 0, done.stderr
    online = ("transport=online", "relay_url=https://relay.example.com")
    # Without its credential: refused, the message says how to give it.
    refused = tocsin(data, "settings", "failover", "link", "1", *online)
    assert refused.returncode == 2
    assert "links.0.device_credential" in refused.stderr
    assert "tocsin settings failover link 1 --device-credential" in refused.stderr
    # Plain http:// to another machine: refused, in German too.
    plain = ("transport=online", "relay_url=http://relay.example.com")
    args = ("settings", "failover", "link", "1", *plain, "--device-credential", "--stdin")
    refused = tocsin(data, *args, "--lang", "de", stdin="tcd_cli-token\n")
    assert refused.returncode == 2
    assert "als https://relay.example.com ein" in refused.stderr
    # Never on the command line.
    secret = tocsin(data, "settings", "failover", "link", "1", *online, "device_credential=x")
    assert secret.returncode == 2
    args = ("settings", "failover", "link", "1", *online, "--device-credential", "--stdin")
    done = tocsin(data, *args, stdin="tcd_cli-token\n")
    assert done.returncode == 0, done.stderr
    shown = tocsin(data, "settings", "failover", "show", "--json")
    assert "tcd_cli-token" not in shown.stdout
    (link,) = json.loads(shown.stdout)["links"]
    assert (link["transport"], link["relay_url"], link["device_credential_set"]) == (
        "online",
        "https://relay.example.com",
        True,
    )
    # A fourth link is refused.
    for number in ("2", "3"):
        done = tocsin(data, "settings", "failover", "link", number, f"host=h{number}.example")
        assert done.returncode == 0, done.stderr
    refused = tocsin(data, "settings", "failover", "link", "4", "host=h4.example")
    assert refused.returncode == 2
