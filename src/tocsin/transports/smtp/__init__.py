"""The SMTP transport: aiosmtplib, walked step by step, with a small connection pool.

Its parts, each a module here:

- :mod:`.connect`: resolve and connect (each step heard by an observer), EHLO names;
- :mod:`.steps`: :class:`~.steps.SessionState`, where library exceptions become
  Tocsin's error tree and the observer hears of every step;
- :mod:`.session`: :class:`SMTPSession`, one connection: TLS, EHLO, STARTTLS, login
  (password or OAuth2 token);
- :mod:`.mail`: mail transactions over an open session, pipelined when offered;
- :mod:`.wire`: the pipelined envelope and message on aiosmtplib's connection;
- :mod:`.replies`: what a server's reply means (retry, give up, close the session);
- :mod:`.transport`: :class:`SMTPTransport`, the sessions of one server, reused.
"""

from tocsin.transports.smtp.connect import (
    StepEvent,
    StepObserver,
    StepStatus,
    connect_tcp,
    default_ehlo_name,
)
from tocsin.transports.smtp.session import SMTPSession
from tocsin.transports.smtp.transport import SMTPTransport

__all__ = [
    "SMTPSession",
    "SMTPTransport",
    "StepEvent",
    "StepObserver",
    "StepStatus",
    "connect_tcp",
    "default_ehlo_name",
]
