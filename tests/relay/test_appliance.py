"""The appliance side: online settings (write-only, encrypted at rest), the test email's
failure report, and the CLI's enrolment against a live relay."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_support import SITE_SENDER, InProcessRelay, serve_options
from typer.testing import CliRunner

from tocsin.cli.relay import online_app, relay_app
from tocsin.errors import Step
from tocsin.relay.records import Device
from tocsin.relay.service import RelayService
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.settings import EmailSettings, TransportKind, apply_update
from tocsin.testing import TestCA
from tocsin.transports.online_diagnostics import check_relay, run_online_test_email
from tocsin.transports.smtp import StepStatus


@pytest.fixture
def relay(service: RelayService, relay_cert: Path) -> Iterator[InProcessRelay]:
    running = InProcessRelay(service, serve_options(relay_cert, worker=False)).start()
    yield running
    running.stop()


def test_online_needs_url_credential_and_sender() -> None:
    base = EmailSettings(enabled=True, transport=TransportKind.ONLINE)
    _, report = apply_update(base, {})
    assert [i.code for i in report.errors] == ["online_not_enrolled"]
    _, report = apply_update(base, {"relay_url": "http://relay.example.com"})
    fields = {i.field: i.code for i in report.errors}
    assert fields["relay_url"] == "invalid_value"
    assert fields["device_credential"] == "required"
    settings, report = apply_update(
        base,
        {
            "relay_url": "https://relay.example.com",
            "device_credential": "tcr_x",
            "sender_address": SITE_SENDER,
        },
    )
    assert report.ok
    assert settings.device_credential == Secret("tcr_x")
    view = settings.public()
    assert view["device_credential"] is None
    assert view["device_credential_set"] is True
    assert "tcr_x" not in json.dumps(view)


def test_the_credential_is_encrypted_at_rest(tmp_path: Path) -> None:
    services = Services.open(tmp_path / "data")
    try:
        _, _, saved = services.settings.update(
            {
                "transport": "online",
                "relay_url": "https://relay.example.com",
                "device_credential": "tcr_secret_value",
                "device_id": "site-1",
            }
        )
        assert saved
        assert services.settings.load().device_credential == Secret("tcr_secret_value")
        stored = services.store.get_value("email_settings") or ""
        assert "tcr_secret_value" not in stored
        assert "device_credential_encrypted" in stored
        _, _, saved = services.settings.update({"sender_name": "Site"})  # left out: kept
        assert services.settings.load().device_credential == Secret("tcr_secret_value")
    finally:
        services.close()


async def test_the_test_email_names_the_failed_step_and_a_hint(
    relay: InProcessRelay, ca: TestCA
) -> None:
    settings = EmailSettings(
        enabled=True,
        transport=TransportKind.ONLINE,
        sender_address=SITE_SENDER,
        relay_url=relay.api_url,
        device_credential=Secret("tcr_wrong"),
        ca_file=str(ca.ca_path),
    )
    report = await run_online_test_email(settings, "ops@example.net")
    assert not report.ok
    failure = report.failure
    assert failure is not None
    assert failure.step is Step.AUTH
    assert "enroll" in failure.hint
    assert [s.step for s in report.steps if s.status is StepStatus.OK] == [
        Step.RESOLVE,
        Step.CONNECT,
        Step.TLS,
    ]
    assert "tcr_wrong" not in json.dumps(report.as_dict())


async def test_the_test_email_says_when_the_relay_still_holds_it_after_the_wait(
    relay: InProcessRelay, ca: TestCA
) -> None:
    # This relay has no delivery worker: the email is taken and stays queued there.
    credential, _ = relay.service.add_device("site-3", [SITE_SENDER])
    settings = EmailSettings(
        enabled=True, transport=TransportKind.ONLINE, sender_address=SITE_SENDER,
        relay_url=relay.api_url, device_credential=Secret(credential), ca_file=str(ca.ca_path),
    )  # fmt: skip
    report = await run_online_test_email(settings, "ops@example.net", status_wait=0.5)
    assert report.ok, report.as_dict()
    last = report.steps[-1]
    assert (last.step, last.status) == (Step.RELAY, StepStatus.OK)
    assert last.summary == (
        "ops@example.net: still queued at the relay (waiting for its first attempt)"
    )
    assert relay.service.store.counts()["queued"] == 1


def test_device_cli_and_enrolment(relay: InProcessRelay, ca: TestCA, tmp_path: Path) -> None:
    runner = CliRunner()
    database = str(relay.service.store.path)  # type: ignore[union-attr]
    added = runner.invoke(
        relay_app, ["device", "add", "site-9", "--sender", SITE_SENDER, "--database", database]
    )
    assert added.exit_code == 0, added.output
    credential = added.stdout.strip().splitlines()[-1]
    assert credential.startswith("tcr_")
    listed = runner.invoke(relay_app, ["device", "list", "--json", "--database", database])
    assert "site-9" in listed.stdout
    assert credential not in listed.stdout
    data = str(tmp_path / "appliance")
    enrolled = runner.invoke(
        online_app,
        ["enroll", relay.api_url, "--ca-file", str(ca.ca_path), "--data", data],
        input=credential + "\n",
    )
    assert enrolled.exit_code == 0, enrolled.output
    services = Services.open(data)
    try:
        settings = services.settings.load()
    finally:
        services.close()
    assert settings.transport is TransportKind.ONLINE
    assert settings.device_id == "site-9"
    assert settings.sender_address == SITE_SENDER
    assert runner.invoke(online_app, ["status", "--data", data]).exit_code == 0
    revoked = runner.invoke(relay_app, ["device", "revoke", "site-9", "--database", database])
    assert revoked.exit_code == 0
    status = runner.invoke(online_app, ["status", "--data", data])
    assert status.exit_code == 1
    assert "401" in status.output
    refused = runner.invoke(
        online_app, ["enroll", "http://relay.example.com", "--data", data], input=credential
    )
    assert refused.exit_code == 2
    assert "loopback" in refused.output


async def test_check_relay_says_whether_the_relay_answers(
    relay: InProcessRelay, ca: TestCA, device: tuple[str, Device]
) -> None:
    settings = EmailSettings(
        transport=TransportKind.ONLINE,
        relay_url=relay.api_url,
        device_credential=Secret(device[0]),
        ca_file=str(ca.ca_path),
    )
    good = await check_relay(settings)
    assert good["reachable"] is True
    assert good["device"] == "site-1"
    bad = await check_relay(dataclasses.replace(settings, device_credential=Secret("tcr_no")))
    assert bad["reachable"] is False
    assert bad["reason"] == "auth_failed"
    unset = await check_relay(EmailSettings(transport=TransportKind.ONLINE))
    assert unset["reason"] == "not_configured"
