"""A settings change reaches the delivery engine at once: the settings' fingerprint is
compared before every claim, so a pooled SMTP session opened with the old settings is
closed before the next send, not up to ``settings_interval`` later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from outbox_support import (
    enqueue,
    eventually,
    fast_options,
    running,
    smtp_settings,
    statuses,
)

from tocsin.outbox import DeliveryEngine, Status
from tocsin.services.context import Services
from tocsin.testing import SMTPTestServer


@pytest.mark.parametrize("versioned", [True, False], ids=["fingerprint", "interval-only"])
async def test_the_next_send_uses_the_new_settings(tmp_path: Path, versioned: bool) -> None:
    services = Services.open(tmp_path / "data")
    try:
        async with SMTPTestServer() as old, SMTPTestServer() as new:
            services.settings.save(smtp_settings(old.port))
            engine = DeliveryEngine(
                services.store,
                services.settings.load,
                settings_version=services.settings.fingerprint if versioned else None,
                # Only the fingerprint can make the engine read the settings again.
                options=fast_options(settings_interval=3600.0, idle_close=3600.0),
            )
            async with running(engine):
                first = enqueue(services.store, "ops1@example.net")
                await eventually(lambda: len(old.messages) == 1, what="the first email")
                assert old.connections == 1  # its session stays open in the pool
                before = services.settings.fingerprint()
                services.settings.save(smtp_settings(new.port))
                assert services.settings.fingerprint() != before
                second = enqueue(services.store, "ops2@example.net")
                target = new if versioned else old
                await eventually(lambda: len(target.messages) >= 1 + (target is old),
                                 what="the second email")  # fmt: skip
                if versioned:
                    await eventually(lambda: "QUIT" in old.commands, what="the old session's end")
                await eventually(
                    lambda: (
                        statuses(services.store, first) == {"ops1@example.net": Status.SENT}
                        and statuses(services.store, second) == {"ops2@example.net": Status.SENT}
                    ),
                    what="both verdicts",
                )
    finally:
        services.close()
    if versioned:
        assert [list(m.rcpt_tos) for m in old.messages] == [["ops1@example.net"]]
        assert [list(m.rcpt_tos) for m in new.messages] == [["ops2@example.net"]]
        assert old.connections == 1
    else:  # the control: without the fingerprint the old session sends on
        sent_old = [list(m.rcpt_tos) for m in old.messages]
        assert sent_old == [["ops1@example.net"], ["ops2@example.net"]]
        assert new.messages == []


async def test_an_email_queued_before_a_sender_change_goes_out_as_the_new_sender(
    tmp_path: Path,
) -> None:
    """The new server's account owns only the new address (553 for any other, as Postfix
    with reject_sender_login_mismatch): an email queued before the change must not pause
    delivery for good; it goes out as the new sender, otherwise the same message."""
    services = Services.open(tmp_path / "data")
    try:
        async with SMTPTestServer() as server:

            async def handle_MAIL(  # noqa: N802 (aiosmtpd hook name)
                _server: object, _session: object, envelope: Any, address: str, options: list[str]
            ) -> str:
                if address != "alarms@new.example.org":
                    return "553 5.7.1 Sender address rejected: not owned by user"
                envelope.mail_from = address
                envelope.mail_options.extend(options)
                return "250 OK"

            server.handler.handle_MAIL = handle_MAIL  # type: ignore[attr-defined]
            queued = enqueue(services.store, "ops1@example.net")  # rendered with the old sender
            view = services.store.get_email(queued)
            assert view is not None
            services.settings.save(
                smtp_settings(
                    server.port, sender_address="alarms@new.example.org", sender_name="Plant room"
                )
            )
            engine = DeliveryEngine(
                services.store,
                services.settings.load,
                settings_version=services.settings.fingerprint,
                options=fast_options(),
            )
            async with running(engine):
                await eventually(
                    lambda: statuses(services.store, queued) == {"ops1@example.net": Status.SENT},
                    what="the email's delivery",
                )
                assert engine.paused is None
    finally:
        services.close()
    (got,) = server.messages
    assert got.mail_from == "alarms@new.example.org"
    message = got.message()
    assert str(message["From"]) == "Plant room <alarms@new.example.org>"
    assert str(message["Message-ID"]) == view.message_id  # otherwise the same message
