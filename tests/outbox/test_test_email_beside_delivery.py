"""A test email with typed settings runs beside live delivery and changes nothing for it:
an alarm queued while the test talks to the trial server goes out through the saved one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from outbox_support import enqueue, eventually, fast_options, running, smtp_settings, statuses

from tocsin.outbox import DeliveryEngine, Status
from tocsin.services.context import Services
from tocsin.services.test_email import send_test_email
from tocsin.testing import SMTPTestServer


async def test_an_alarm_queued_during_a_typed_test_goes_out_through_the_saved_settings(
    tmp_path: Path,
) -> None:
    services = Services.open(tmp_path / "data")
    try:
        async with SMTPTestServer() as live, SMTPTestServer() as trial:
            services.settings.save(smtp_settings(live.port))
            saved = services.settings.fingerprint()
            trial.faults.delay("data_end", 1.5)  # the test is still talking meanwhile
            engine = DeliveryEngine(
                services.store,
                services.settings.load,
                settings_version=services.settings.fingerprint,
                options=fast_options(),
            )
            async with running(engine):
                test = asyncio.create_task(
                    send_test_email(
                        services, "tester@example.net", changes={"port": str(trial.port)}
                    )
                )
                await eventually(lambda: "DATA" in trial.commands, what="the test's DATA")
                alarm = enqueue(services.store, "ops@example.net")
                await eventually(
                    lambda: statuses(services.store, alarm) == {"ops@example.net": Status.SENT},
                    what="the alarm sent",
                )
                assert not test.done()  # the alarm went out while the test was running
                report = await test
            assert services.settings.fingerprint() == saved  # the test saved nothing
    finally:
        services.close()
    assert report.ok
    assert [list(m.rcpt_tos) for m in trial.messages] == [["tester@example.net"]]
    assert [list(m.rcpt_tos) for m in live.messages] == [["ops@example.net"]]
