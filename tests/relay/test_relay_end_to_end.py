"""End to end: appliance (transport online) → relay (HTTPS) → the real Postfix's MX port,
which requires STARTTLS → Maildir; the DKIM signature verifies."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

import pytest
from relay_support import (
    SITE_SENDER,
    dkim_verifies,
    online_settings,
    raw_from_maildir,
    relay_to_mx,
)

from helpers import RealSMTP
from tocsin.errors import Step
from tocsin.message import compose
from tocsin.relay.dkim_signer import DKIMKey
from tocsin.relay.store import RelayStore
from tocsin.testing import TestCA
from tocsin.transports.online import OnlineTransport
from tocsin.transports.online_diagnostics import run_online_test_email
from tocsin.transports.smtp import StepStatus

pytestmark = pytest.mark.postfix


async def test_appliance_relay_postfix_mx_maildir_with_dkim(
    real_smtp: RealSMTP,
    relay_store: RelayStore,
    dkim_key: DKIMKey,
    relay_cert: Path,
    ca: TestCA,
) -> None:
    # The MX of example.net is the real Postfix's STARTTLS-only port (no DNS needed).
    _, credential, relay = relay_to_mx(
        relay_store, dkim_key, relay_cert, mx_port=real_smtp.mx_port, mx_ca_file=real_smtp.ca_path
    )
    appliance = online_settings(
        relay, credential, ca.ca_path, sender_name="Server room A", timeout=30, deadline=120
    )
    try:
        # 1. The test email, as the settings page runs it: every step reported.
        report = await run_online_test_email(appliance, "ops@example.net", status_wait=20)
        steps = [(s.step, s.status) for s in report.steps if s.status is not StepStatus.START]
        assert report.ok, report.as_dict()
        assert steps == [
            (Step.RESOLVE, StepStatus.OK),
            (Step.CONNECT, StepStatus.OK),
            (Step.TLS, StepStatus.OK),
            (Step.AUTH, StepStatus.OK),
            (Step.DATA, StepStatus.OK),
            (Step.RELAY, StepStatus.OK),
        ]
        assert "delivered" in report.steps[-1].summary
        # 2. An alarm through the transport the appliance's outbox uses.
        transport = OnlineTransport(appliance)
        alarm = compose(
            sender=SITE_SENDER,
            sender_name="Server room A",
            to=["ops@example.net"],
            subject="Fire alarm: server room A",
            text="Smoke detector 3 raised an alarm.\n",
        )
        try:
            assert (await transport.send(alarm)).all_accepted
        finally:
            await transport.aclose()
        for message_id in (report.message_id, alarm.message_id):
            raw = await asyncio.to_thread(raw_from_maildir, real_smtp, message_id)
            assert dkim_verifies(raw, dkim_key), raw[:2000]
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert parsed["From"].addresses[0].addr_spec == "alerts@relay.example.com"
            assert parsed["Reply-To"] == SITE_SENDER
            assert "TLS" in " ".join(parsed.get_all("Received", []))  # Postfix: over STARTTLS
            assert parsed["Return-Path"] == "<bounces@relay.example.com>"
    finally:
        await relay.astop()
