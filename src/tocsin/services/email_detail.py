"""One email of the delivery log in full: what the web page, the API and the CLI show.

The outbox keeps, per recipient, the attempts made, the last attempt's time, step and
the server's answer, the next attempt, and each of the newest 20 attempts
(``history``, oldest first); the message itself gives the headers.
Nothing here is a secret (the message is what the recipients get), but a header that
could carry one if an override added it (``Authorization``, a ``…-Token``) is shown
as hidden all the same.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any, Final

from tocsin.headers import clean_header_text
from tocsin.outbox import DeliveryView, EmailView, Status

__all__ = ["HIDDEN", "EmailDetail", "event_of", "headers_of", "sent_at"]

HIDDEN: Final = "<hidden>"
_MAX_HEADERS: Final = 60
_MAX_VALUE: Final = 2000
_SECRET_NAME: Final = re.compile(r"authorization|password|secret|token|dkim-signature", re.I)
# An alarm email's Message-ID is <event id>.<16 hex digits>@domain (tocsin.model.email_id).
_EVENT_MESSAGE_ID: Final = re.compile(r"<([A-Za-z0-9_-]{1,64})\.[0-9a-f]{16}@")


def event_of(message_id: str) -> str:
    """The id of the event an email is about, from its Message-ID; "" for other mail."""
    found = _EVENT_MESSAGE_ID.match(message_id)
    return found.group(1) if found else ""


def headers_of(content: bytes) -> tuple[tuple[str, str], ...]:
    """The message's top-level headers as (name, decoded value), in order.

    Values are unfolded and cleaned of control characters; a header whose name
    suggests a secret is shown as :data:`HIDDEN`.  At most 60 headers.
    """
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(content)
    shown: list[tuple[str, str]] = []
    for name, value in list(parsed.items())[:_MAX_HEADERS]:
        text = (
            HIDDEN if _SECRET_NAME.search(name) else clean_header_text(str(value), limit=_MAX_VALUE)
        )
        shown.append((clean_header_text(name, limit=100), text))
    return tuple(shown)


def sent_at(delivery: DeliveryView) -> float | None:
    """When the server accepted this delivery (its last change, once sent), else None."""
    return delivery.updated_at if delivery.status is Status.SENT else None


@dataclass(frozen=True, slots=True)
class EmailDetail:
    """One email of the outbox with everything the delivery log knows of it.

    ``email`` carries the deliveries (one per recipient) but not the content;
    ``event_id`` is the event it is about ("" for a summary or a notice of Tocsin's
    own); ``headers`` are the message's headers (:func:`headers_of`).
    """

    email: EmailView
    event_id: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, view: EmailView) -> EmailDetail:
        """The detail of ``view`` (read with its content)."""
        headers = headers_of(view.content) if view.content is not None else ()
        email = dataclasses.replace(view, content=None)
        return cls(email=email, event_id=event_of(view.message_id), headers=headers)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (API and CLI): the email's fields, ``event_id``, ``headers`` as
        ``[{"name", "value"}]``, and per delivery its fields plus ``sent_at``."""
        data = {f.name: getattr(self.email, f.name) for f in dataclasses.fields(self.email)}
        data.pop("content")
        data["deliveries"] = [_delivery_dict(d) for d in self.email.deliveries]
        data["event_id"] = self.event_id or None
        data["headers"] = [{"name": n, "value": v} for n, v in self.headers]
        return data


def _delivery_dict(delivery: DeliveryView) -> dict[str, Any]:
    data = dataclasses.asdict(delivery)
    data["status"] = delivery.status.value
    if delivery.remote is not None:
        data["remote"]["state"] = delivery.remote.state.value
    data["sent_at"] = sent_at(delivery)
    data["history"] = [a | {"status": str(a["status"])} for a in data["history"]]
    return data
