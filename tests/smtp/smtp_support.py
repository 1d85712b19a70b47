"""Helpers for the SMTP tests: settings that point at a test server."""

from __future__ import annotations

import dataclasses

from tocsin.secret import Secret
from tocsin.settings import EmailSettings, Encryption
from tocsin.testing import BaseSMTPTestServer

USER, PASSWORD = "alarm@example.com", "correct horse battery staple"


def settings_for(srv: BaseSMTPTestServer, **changes: object) -> EmailSettings:
    """Settings that reach ``srv`` (verified TLS with its CA, short timeouts)."""
    encryption = {
        "none": Encryption.NONE,
        "implicit": Encryption.SSL,
        "starttls": Encryption.STARTTLS,
    }[srv.tls]
    base = EmailSettings(
        enabled=True,
        sender_address=USER,
        sender_name="Server room",
        host="localhost",
        port=srv.port,
        encryption=encryption,
        ca_file=str(srv.ca.ca_path),
        username=USER if srv.username else "",
        password=Secret(PASSWORD) if srv.username else None,
        allow_plaintext_auth=encryption is Encryption.NONE,
        timeout=2.0,
        deadline=6.0,
        ehlo_name="tocsin.test",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
