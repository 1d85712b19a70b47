"""The client TLS context is built once and shared (reading the CA store took 20–28 ms
for every new transport, the first alarm after an idle half minute among them), yet a
CA file renewed on disk is read again by the next transport."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from smtp_support import settings_for

from tocsin.errors import Reason, TLSFailed
from tocsin.message import compose
from tocsin.testing import SMTPTestServer, TestCA
from tocsin.tlsinfo import make_tls_context
from tocsin.transports import SMTPTransport


def _alarm() -> object:
    return compose(sender="alarm@example.com", to=["ops@example.net"], subject="Fire", text="x")


def test_the_same_store_gives_the_same_context_and_verify_off_its_own(ca: TestCA) -> None:
    verified = make_tls_context(ca_file=str(ca.ca_path))
    assert make_tls_context(ca_file=str(ca.ca_path)) is verified
    insecure = make_tls_context(verify=False, ca_file=str(ca.ca_path))
    assert insecure is not verified
    assert (verified.check_hostname, insecure.check_hostname) == (True, False)
    assert make_tls_context() is make_tls_context()  # the system store


def test_the_online_relays_https_context_is_not_the_smtp_one(ca: TestCA) -> None:
    # httpx sets its ALPN protocol ("http/1.1") on the context it is given; shared,
    # every SMTP connection would then offer it.
    from tocsin.settings import EmailSettings
    from tocsin.transports.online import relay_tls_context

    https = relay_tls_context(EmailSettings(ca_file=str(ca.ca_path)))
    assert https is not make_tls_context(ca_file=str(ca.ca_path))
    assert https is make_tls_context(ca_file=str(ca.ca_path), protocol="https")


def test_a_missing_ca_file_still_fails_each_time(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.pem")
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            make_tls_context(ca_file=missing)


async def test_a_renewed_ca_file_is_read_again_by_the_next_transport(
    ca: TestCA, tmp_path: Path
) -> None:
    with TestCA() as renewed:
        ca_file = tmp_path / "site-ca.pem"
        ca_file.write_bytes(ca.ca_path.read_bytes())  # the old CA
        async with SMTPTestServer(ca=renewed, tls="implicit") as srv:
            settings = settings_for(srv, ca_file=str(ca_file))
            old = SMTPTransport(settings)
            with pytest.raises(TLSFailed) as caught:
                await old.send(_alarm())
            await old.aclose()
            assert caught.value.reason is Reason.CERT_INVALID

            # The admin puts the server's new CA in the same file.
            ca_file.write_bytes(renewed.ca_path.read_bytes())
            stat = ca_file.stat()
            os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
            new = SMTPTransport(settings)
            result = await new.send(_alarm())
            await new.aclose()
        assert result.all_accepted
        assert len(srv.messages) == 1
