"""In-process SMTP servers, certificates and network faults for tests.

Test-only: needs the ``test`` extra (aiosmtpd, trustme), so ``import tocsin`` never imports
this module.  Every test suite of the project uses these servers, so a fault behaves the same
everywhere::

    async with SMTPTestServer(tls="starttls", username="u", password="p") as srv:
        srv.faults.reply_at("rcpt", "451 4.2.0 try later", recipient="b@x.test")
        ...  # connect to srv.host:srv.port, trusting srv.ca.ca_path
        assert srv.messages[0].rcpt_tos == ("a@x.test",)

    with ThreadedSMTPTestServer(tls="implicit") as srv:  # for sync code and subprocesses
        ...

What is in here:

- `TestCA`: a throw-away CA (trustme) with a server certificate for ``localhost``,
  ``127.0.0.1`` and ``::1``, plus untrusted, wrong-host and expired certificates.
- `SMTPTestServer` (on the caller's running loop) and `ThreadedSMTPTestServer` (own loop
  thread): aiosmtpd on a free loopback port, TLS none / implicit / STARTTLS, AUTH PLAIN LOGIN
  (CRAM-MD5 on request), SMTPUTF8, recording every accepted message and every command line.
- `Faults`: per-server fault injection by *stage* - a reply instead of the normal one, a
  dropped connection, a reply that never comes, a delay - each for ever or for the next
  ``times`` hits.
- `OAuthTestServer`: a local OAuth2 server over HTTPS (token endpoint with client
  credentials, refresh and device code grants, device authorization, revocation,
  introspection, token expiry) that the SMTP test servers check XOAUTH2 / OAUTHBEARER
  tokens against (``SMTPTestServer(oauth=..., auth_mechanisms=("XOAUTH2",))``).
- `BlackHole` (accepts TCP, never speaks), `closed_port()` and `unused_port()` (nothing
  listens: connection refused).

Where it lives: ``certs`` (`TestCA`), ``faults`` (`Faults`, `Stage`), ``recording``
(`RecordingHandler`, `ReceivedMessage`), ``protocol`` (the aiosmtpd protocol of one
connection), ``servers`` (the servers, `TLSMode`), ``ports`` (bare ports), ``loops``
(`finish_loop`: ending a loop thread with no socket left open), ``oauth`` (the OAuth2
server, a package split by responsibility).  Import from
``tocsin.testing`` itself; the modules are its implementation.
"""

from tocsin.testing.certs import TestCA
from tocsin.testing.client_certs import ClientCertificatePair, make_client_certificate
from tocsin.testing.faults import Faults, Stage
from tocsin.testing.loops import finish_loop
from tocsin.testing.oauth import OAuthTestServer, TokenRequest
from tocsin.testing.ports import BlackHole, closed_port, unused_port
from tocsin.testing.recording import ReceivedMessage, RecordingHandler
from tocsin.testing.servers import (
    BaseSMTPTestServer,
    SMTPTestServer,
    ThreadedSMTPTestServer,
    TLSMode,
)

__all__ = [
    "BaseSMTPTestServer",
    "BlackHole",
    "ClientCertificatePair",
    "Faults",
    "OAuthTestServer",
    "ReceivedMessage",
    "RecordingHandler",
    "SMTPTestServer",
    "Stage",
    "TLSMode",
    "TestCA",
    "ThreadedSMTPTestServer",
    "TokenRequest",
    "closed_port",
    "finish_loop",
    "make_client_certificate",
    "unused_port",
]
