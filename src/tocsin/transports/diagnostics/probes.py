"""Short probes of a mail server's port, for the test email's hints: does it speak TLS
at once (an SSL port), does it greet in plain text (a STARTTLS or plain port), and
which certificate does it show (read without verifying, to say what is wrong).

A probe only reads; nothing is sent through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from tocsin.settings import EmailSettings, Encryption
from tocsin.tlsinfo import CertificateFacts, certificate_facts

__all__ = ["PROBE_TIMEOUT", "fetch_certificate", "plain_greeting", "speaks_tls", "verify_error"]

PROBE_TIMEOUT = 5.0


def verify_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``error``, if one is in its chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def _open(
    host: str, port: int, context: ssl.SSLContext | None, timeout: float = PROBE_TIMEOUT
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(timeout):
        return await asyncio.open_connection(
            host.strip("[]"),
            port,
            ssl=context,
            server_hostname=host.strip("[]") if context else None,
        )


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a probe only reads; nothing is sent through it
    return context


async def speaks_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the port completes a TLS handshake straight away (an SSL port)."""
    try:
        _, writer = await _open(host, port, _unverified(), timeout)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def plain_greeting(host: str, port: int) -> bool:
    """True when the port greets in plain text with 220 (a STARTTLS or plain port)."""
    try:
        reader, writer = await _open(host, port, None)
    except (OSError, TimeoutError):
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            line = await reader.readline()
    except (OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
    return line.startswith(b"220")


async def fetch_certificate(s: EmailSettings) -> CertificateFacts | None:
    """The server's certificate read without verifying it, to describe what is wrong."""
    import aiosmtplib

    client = aiosmtplib.SMTP(
        hostname=s.host.strip("[]"),
        port=s.port,
        use_tls=s.encryption is Encryption.SSL,
        start_tls=False,
        tls_context=_unverified(),
        timeout=PROBE_TIMEOUT,
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT * 2):
            await client.connect()
            if s.encryption is Encryption.STARTTLS:
                await client.starttls()
            transport = client.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            return certificate_facts(der) if der else None
    except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError):
        return None
    finally:
        client.close()
