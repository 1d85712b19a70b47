"""Throw-away certificates for the test servers: `TestCA` (trustme)."""

from __future__ import annotations

import datetime
import shutil
import ssl
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import trustme


class TestCA:
    """A throw-away certificate authority and the server certificates tests need.

    The CA certificate is written as PEM to `ca_path` in a temporary directory this object
    owns; `close()` (or leaving the ``with`` block, or garbage collection) removes it.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, *, identities: Sequence[str] = ("localhost", "127.0.0.1", "::1")) -> None:
        self.trustme_ca = trustme.CA()
        self._server_cert = self.trustme_ca.issue_cert(*identities)
        self._dir = Path(tempfile.mkdtemp(prefix="tocsin-test-ca-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self.ca_path: Path = self._dir / "ca.pem"
        """PEM file of the CA: give it to clients (``cafile=``) so they trust the server."""
        self.trustme_ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the trusted ``localhost`` certificate."""
        return _server_context(self._server_cert)

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only this CA and checks the host name."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def untrusted_server_context(self) -> ssl.SSLContext:
        """A server context with a valid-looking ``localhost`` certificate from a second CA
        that no client trusts (the "self-signed server" case)."""
        stranger = trustme.CA()
        return _server_context(stranger.issue_cert("localhost", "127.0.0.1", "::1"))

    def wrong_host_server_context(self, hostname: str = "wrong.example.test") -> ssl.SSLContext:
        """A server context with a certificate from this (trusted) CA for another host only."""
        return _server_context(self.trustme_ca.issue_cert(hostname))

    def expired_server_context(self) -> ssl.SSLContext:
        """A server context with a ``localhost`` certificate from this CA that has expired."""
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        cert = self.trustme_ca.issue_cert(
            "localhost",
            "127.0.0.1",
            "::1",
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        )
        return _server_context(cert)

    def close(self) -> None:
        """Remove the temporary directory holding `ca_path`."""
        self._cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    # Purpose.CLIENT_AUTH gives verify_mode CERT_NONE and check_hostname False, which is
    # what aiosmtpd expects of a server context (it warns otherwise).
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx
