"""`tocsin serve` as a user runs it: one process, HTTP in, real Postfix out."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from helpers import RealSMTP, tocsin_cli, tocsin_serve, wait_for_delivery

pytestmark = pytest.mark.postfix


def test_serve_takes_an_event_and_delivers_it(tmp_path: Path, real_smtp: RealSMTP) -> None:
    env = {**os.environ, "TOCSIN_DATA": str(tmp_path / "data"), "NO_COLOR": "1"}
    tocsin_cli(
        env,
        "settings",
        "set",
        "enabled=true",
        "encryption=none",
        "host=127.0.0.1",
        f"port={real_smtp.plain_port}",
        "sender_address=alarm@example.com",
        "sender_name=Plant room",
        "ehlo_name=tocsin.test",
    )
    tocsin_cli(env, "group", "add", "site", "--name", "Site")
    tocsin_cli(env, "group", "add", "plant", "--name", "Plant room", "--parent", "site")
    tocsin_cli(
        env,
        "user",
        "add",
        "ops",
        "--name",
        "Ops",
        "--email",
        "ops@example.net",
        "--group",
        "site",
        "--category",
        "always",
    )
    token = tocsin_cli(env, "token", "create", "gateway").strip()
    with tocsin_serve(env) as base:
        answer = httpx.post(
            f"{base}/api/v1/events",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={
                "group": "plant",
                "device": "Leak sensor",
                "sensor": "Floor",
                "category": "always",
                "severity": "alarm",
                "state": "raised",
                "text": "Water on the floor",
            },
        )
        assert answer.status_code == 202, answer.text
        got = wait_for_delivery(real_smtp, lambda m: "Leak sensor" in str(m["Subject"]), timeout=15)
        assert "Plant room" in str(got["Subject"])
        assert got["Auto-Submitted"] == "auto-generated"
