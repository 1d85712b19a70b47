"""Connecting for the SMTP session: the steps it reports, TCP, the EHLO name, OS errors.

Split from :mod:`tocsin.transports.smtp` (which re-exports these names) so that the
session module stays about the conversation.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

import aiosmtplib

from tocsin.errors import ConnectFailed, DeliveryError, DeliveryTimeout, Reason, Step, TLSFailed
from tocsin.settings import host_problem

__all__ = [
    "StepEvent",
    "StepObserver",
    "StepStatus",
    "address_literal",
    "classify_os_error",
    "connect_tcp",
    "default_ehlo_name",
]


class StepStatus(StrEnum):
    """Where a step stands."""

    START = "start"
    OK = "ok"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """One thing that happened in a session, for an observer (never holds a secret)."""

    step: Step
    status: StepStatus
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    error: DeliveryError | None = None


StepObserver = Callable[[StepEvent], None]


@cache
def _host_fqdn() -> str:
    return socket.getfqdn()


async def default_ehlo_name() -> str | None:
    """This machine's FQDN if it is a valid host name, else None (use an address literal)."""
    name = await asyncio.to_thread(_host_fqdn)
    return name if "." in name and host_problem(name) is None else None


def address_literal(sock: socket.socket) -> str:
    # RFC 5321 §4.1.3: [192.0.2.1] or [IPv6:2001:db8::1]
    ip = sock.getsockname()[0]
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def classify_os_error(exc: BaseException, step: Step) -> DeliveryError:
    """Map an OS / TLS / aiosmtplib error (no reply code) onto the tree."""
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPConnectError) else None
    inner = cause or exc
    if isinstance(inner, ssl.SSLCertVerificationError):
        return TLSFailed(
            f"the server's certificate was not accepted: {inner.verify_message}",
            step=Step.TLS if step is Step.CONNECT else step,
            reason=Reason.CERT_INVALID,
        )
    if isinstance(inner, ssl.SSLError):
        return TLSFailed(
            f"the TLS handshake failed: {inner.reason or inner}",
            step=Step.TLS if step is Step.CONNECT else step,
            reason=Reason.TLS_FAILED,
        )
    if isinstance(inner, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
        what = "sent no greeting" if step is Step.CONNECT else f"did not answer {step.value}"
        return DeliveryTimeout(f"the server {what} in time", step=step, reason=Reason.TIMEOUT)
    if isinstance(inner, ConnectionRefusedError):
        return ConnectFailed("connection refused", step=step, reason=Reason.CONNECT_REFUSED)
    if isinstance(inner, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
        return ConnectFailed(
            f"the server closed the connection: {inner}", step=step, reason=Reason.DISCONNECTED
        )
    return ConnectFailed(
        f"{type(inner).__name__}: {inner}", step=step, reason=Reason.CONNECT_FAILED
    )


async def connect_tcp(
    host: str,
    port: int,
    timeout: float,
    observer: Callable[[Step, StepStatus, str], None] | None = None,
) -> socket.socket:
    """Resolve ``host`` and connect to the first address that answers (IPv6 and IPv4)."""
    loop = asyncio.get_running_loop()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectFailed(
            f"cannot resolve {bare}: {exc.strerror}", step=Step.RESOLVE, reason=Reason.DNS_FAILED
        ) from exc
    except TimeoutError as exc:
        raise DeliveryTimeout(
            f"resolving {bare} took longer than {timeout:g} s",
            step=Step.RESOLVE,
            reason=Reason.TIMEOUT,
        ) from exc
    if observer:
        observer(Step.RESOLVE, StepStatus.OK, ", ".join(dict.fromkeys(str(i[4][0]) for i in infos)))
    last: BaseException | None = None
    for family, kind, proto, _, address in infos:
        if observer:
            observer(Step.CONNECT, StepStatus.START, f"{address[0]} port {port}")
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, address)
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc
            continue
        except asyncio.CancelledError:
            sock.close()  # a cancelled test leaves no half-open socket behind
            raise
        if observer:
            observer(Step.CONNECT, StepStatus.OK, f"TCP connection to {address[0]} port {port}")
        return sock
    assert last is not None  # getaddrinfo never returns an empty list
    error = classify_os_error(last, Step.CONNECT)
    raise type(error)(
        f"{bare} port {port}: {error.args[0]}", step=Step.CONNECT, reason=error.reason
    ) from last
