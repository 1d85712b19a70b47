"""`tocsin settings discover`: the real command (a subprocess) against dnsmasq and HTTPS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from discovery_servers import AutoconfigServer, DNSServer
from tocsin.testing import TestCA


def _run(
    dns: DNSServer, https: AutoconfigServer, ca: TestCA, data: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOCSIN_DATA": str(data), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tocsin",
            "settings",
            "discover",
            *args,
            f"--nameserver={dns.host}:{dns.port}",
            f"--ca-file={ca.ca_path}",
            f"--https-port={https.port}",
            "--timeout=1.5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_found_settings_are_printed_with_their_source_and_nothing_is_saved(
    dns_server: DNSServer, https_server: AutoconfigServer, discovery_ca: TestCA, tmp_path: Path
) -> None:
    done = _run(
        dns_server, https_server, discovery_ca, tmp_path / "data", "alarms@found.example.test"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "Settings found for found.example.test. Check them, then save: nothing has been saved yet."
    )
    assert lines[1] == "1. smtp.found.example.test port 587 starttls, sign-in password"
    assert lines[2].startswith(
        "   Autoconfig document: https://autoconfig.found.example.test/mail/config-v1.1.xml"
    )
    assert (
        "To use the first: tocsin settings set host=smtp.found.example.test port=587 "
        "encryption=starttls" in done.stdout
    )
    assert not (tmp_path / "data").exists()  # not even a data directory


def test_json_in_german_and_the_mx_provider(
    dns_server: DNSServer, https_server: AutoconfigServer, discovery_ca: TestCA, tmp_path: Path
) -> None:
    done = _run(
        dns_server,
        https_server,
        discovery_ca,
        tmp_path,
        "alarms@gws.example.test",
        "--json",
        "--lang=de",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["saved"] is False
    (first,) = body["proposals"]
    assert (first["preset"], first["host"], first["port"], first["encryption"]) == (
        "google",
        "smtp.gmail.com",
        465,
        "ssl",
    )
    assert first["source_label"] == "MX-Einträge (bekannte Anbieter)"
    assert first["origin"] == "gws.example.test MX 1 aspmx.l.google.com."


def test_nothing_found_exits_1_and_a_bad_address_2(
    dns_server: DNSServer, https_server: AutoconfigServer, discovery_ca: TestCA, tmp_path: Path
) -> None:
    none = _run(dns_server, https_server, discovery_ca, tmp_path, "a@badcert.example.test")
    assert none.returncode == 1
    assert none.stdout.startswith("No settings found for badcert.example.test.")
    assert (
        "✗ Autoconfig document: Could not be read: https://autoconfig.badcert.example.test/"
        in none.stdout
    )
    assert "certificate not trusted" in none.stdout
    bad = _run(dns_server, https_server, discovery_ca, tmp_path, "kein Name", "--lang=de")
    assert bad.returncode == 2
    assert (
        bad.stderr.strip() == "✗ ADDRESS: Keine gültige E-Mail-Adresse: Sie enthält ein "
        "Leerzeichen."
    )
