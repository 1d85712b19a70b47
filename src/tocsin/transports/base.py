"""The transport interface: one method to send, one to close. Results are data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from tocsin.errors import Reason, Step
from tocsin.message import Mail

__all__ = [
    "DeliveryResult",
    "MockTransport",
    "Outcome",
    "RecipientResult",
    "Report",
    "Transport",
    "send_each",
]


class Outcome(StrEnum):
    """What became of one recipient."""

    ACCEPTED = "accepted"  # the server took responsibility (250 to DATA)
    TEMPORARY = "temporary"  # try this recipient again later
    PERMANENT = "permanent"  # this recipient will never take this message


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The outcome for one recipient, with the server's words when it refused."""

    recipient: str
    outcome: Outcome
    reason: Reason | None = None
    step: Step | None = None
    code: int | None = None
    server_message: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Per-recipient outcomes of one message, and the server's answer to DATA."""

    recipients: tuple[RecipientResult, ...]
    server_reply: str = ""
    # Set by a server that delivers later and reports how it went (the online service):
    # the id to ask it by.  An SMTP server's 250 is the end of our part, so SMTP leaves it.
    tracking_id: str = ""

    @property
    def accepted(self) -> tuple[str, ...]:
        """Recipients the server took responsibility for."""
        return tuple(r.recipient for r in self.recipients if r.outcome is Outcome.ACCEPTED)

    @property
    def all_accepted(self) -> bool:
        """True when every recipient was accepted."""
        return all(r.outcome is Outcome.ACCEPTED for r in self.recipients)

    def for_recipient(self, recipient: str) -> RecipientResult:
        """The result for ``recipient``; ``KeyError`` if it was not in the message."""
        for result in self.recipients:
            if result.recipient == recipient:
                return result
        raise KeyError(recipient)


@runtime_checkable
class Transport(Protocol):
    """Sends mail. Retries live in the outbox, never in a transport.

    ``send`` returns a :class:`DeliveryResult` when the server answered for each
    recipient (refused recipients included), and raises a
    :class:`~tocsin.errors.DeliveryError` when nothing was delivered.
    """

    async def send(self, mail: Mail) -> DeliveryResult:
        """Deliver ``mail``; see the class docstring for what is raised."""
        ...

    async def aclose(self) -> None:
        """Close every connection the transport holds."""
        ...


Report = Callable[[int, DeliveryResult | Exception], None]
"""Hears, for each of several mails in order, its index and outcome: the result, or the
exception that says nothing of it was delivered."""


async def send_each(transport: Transport, mails: Sequence[Mail], report: Report) -> None:
    """Send ``mails`` in order and ``report`` each outcome as it comes; exceptions are
    reported, not raised (except cancellation).

    A transport that has ``send_many(mails, report)`` does it its own way: the SMTP
    transport sends the mails back to back on one connection, pipelined.
    """
    send_many = getattr(transport, "send_many", None)
    if send_many is not None:
        await send_many(mails, report)
        return
    for index, mail in enumerate(mails):
        try:
            result = await transport.send(mail)
        except Exception as exc:
            report(index, exc)
        else:
            report(index, result)


class MockTransport:
    """A transport that hands every mail to a function: for tests above the wire."""

    def __init__(self, handler: Callable[[Mail], Awaitable[DeliveryResult] | DeliveryResult]):
        self._handler = handler
        self.closed = False

    async def send(self, mail: Mail) -> DeliveryResult:
        """Call the handler (awaiting it if it is async)."""
        result = self._handler(mail)
        if isinstance(result, DeliveryResult):
            return result
        return await result

    async def aclose(self) -> None:
        """Mark the transport closed."""
        self.closed = True


def accept_all(mail: Mail) -> DeliveryResult:
    """A MockTransport handler that accepts every recipient."""
    return DeliveryResult(
        tuple(RecipientResult(r, Outcome.ACCEPTED) for r in mail.recipients), "250 OK"
    )
