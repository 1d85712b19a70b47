"""The transport the engine sends through, rebuilt when the settings change.

A transport built for old settings is retired, not closed under a send in flight: it
is closed once its last send has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tocsin.secret import Secret
from tocsin.settings import EmailSettings, TransportKind
from tocsin.transports.base import Transport

__all__ = ["RefreshKeeper", "TransportFactory", "TransportHolder", "default_transport_factory"]

log = logging.getLogger("tocsin.outbox")

TransportFactory = Callable[[EmailSettings], Transport]
"""Builds a transport for the given settings (tests pass their own)."""


RefreshKeeper = Callable[[EmailSettings], Callable[[Secret], None]]
"""Gives, for the settings a transport is built from, where a rotated OAuth2 refresh
token is stored (the services' settings store)."""


def default_transport_factory(
    max_connections: int, *, refresh_keeper: RefreshKeeper | None = None
) -> TransportFactory:
    """SMTP with up to ``max_connections`` sessions kept open in parallel; a refresh
    token the OAuth2 provider rotates goes to ``refresh_keeper(settings)``.

    The transports are imported here, when the engine is made, not on its first send,
    and the system store's TLS context (the one most settings use) is built: else the
    first alarm after a start would wait for both (0.2 s with the OAuth2 client behind
    the transports, 25–33 ms for the context).
    """
    from tocsin.tlsinfo import make_tls_context
    from tocsin.transports.online import OnlineTransport
    from tocsin.transports.smtp import SMTPTransport

    make_tls_context()  # shared from now on (see there)

    def build(settings: EmailSettings) -> Transport:
        if settings.transport is TransportKind.ONLINE:
            return OnlineTransport(settings)
        keep = refresh_keeper(settings) if refresh_keeper is not None else None
        return SMTPTransport(settings, max_connections=max_connections, on_refresh_token=keep)

    return build


class _Lane:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.users = 0
        self.retired = False


class TransportHolder:
    """Hands out the current transport and closes retired ones when they fall idle."""

    def __init__(self, factory: TransportFactory) -> None:
        self._factory = factory
        self._current: _Lane | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def acquire(self, settings: EmailSettings) -> tuple[Transport, object]:
        """The transport to send with, and a token to give back to :meth:`release`."""
        if self._current is None:
            self._current = _Lane(self._factory(settings))
        lane = self._current
        lane.users += 1
        return lane.transport, lane

    def release(self, token: object) -> None:
        """Give back a transport; a retired one is closed after its last user."""
        assert isinstance(token, _Lane)
        token.users -= 1
        if token.retired and token.users == 0:
            self._close(token)

    def retire(self) -> None:
        """Stop handing out the current transport (settings changed, pause, idle)."""
        lane, self._current = self._current, None
        if lane is None:
            return
        lane.retired = True
        if lane.users == 0:
            self._close(lane)

    @property
    def busy(self) -> bool:
        """True while a send uses the current transport."""
        return self._current is not None and self._current.users > 0

    def _close(self, lane: _Lane) -> None:
        task = asyncio.get_running_loop().create_task(self._aclose(lane.transport))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _aclose(transport: Transport) -> None:
        try:
            async with asyncio.timeout(30):
                await transport.aclose()
        except Exception:
            log.exception("closing a transport failed")

    async def aclose(self) -> None:
        """Retire the current transport and wait until every retired one is closed."""
        self.retire()
        if self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(35):
                    await asyncio.gather(*self._closing, return_exceptions=True)
