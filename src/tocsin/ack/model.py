"""An alarm's acknowledgement as data: who, when, by which way."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tocsin.model import Category, Event, Severity, State

__all__ = ["AckVia", "Acknowledgement", "can_acknowledge"]


class AckVia(StrEnum):
    """The way an acknowledgement came in."""

    LINK = "link"
    WEB = "web"
    API = "api"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Event ``event_id`` was acknowledged by ``by`` at ``at`` (Unix seconds) via ``via``.

    ``user_id`` is the site user who acknowledged (a link names its recipient); None
    for an admin on the web page, an API token or the CLI.  One per event: a second
    acknowledgement changes nothing (escalation, later, stops at the first).
    """

    event_id: str
    by: str
    at: float
    via: AckVia
    user_id: str | None = None


def can_acknowledge(event: Event, *, warnings: bool = False) -> bool:
    """True for what can be acknowledged: a raised alarm (not a clear, a notice).

    A warning only with ``warnings`` (its group asks for it: see
    :func:`tocsin.routing.acknowledges_warnings`); system notices end when Tocsin's
    trouble does.
    """
    severe = event.severity is Severity.ALARM or warnings
    return event.state is State.RAISED and severe and event.category is not Category.SYSTEM
