"""The MQTT intake's use cases: its settings, its status, and one message into an event.

**Settings** are one key-value row (``mqtt_settings``), the password encrypted like the
email password; :meth:`MqttService.update` validates once for the API, the page and the
CLI.  A stable client id is made at the first save if none was given: the broker keeps
the session, and the messages published while Tocsin is down, under that id.

**A message** (:meth:`MqttService.handle`) is one event in the JSON the REST API takes
(:mod:`tocsin.services.event_input`: the same fields, the same errors).  It is either
*accepted* (committed: then, and only then, the caller acknowledges it to the broker),
or *dead-lettered* (recorded with its reason, then acknowledged so it never blocks the
subscription).  A full disk or an unreachable database raises: the message is not
acknowledged and the broker delivers it again.

**Idempotency.**  QoS 1 is at-least-once: after a crash between the commit and the
acknowledgement the broker sends the message again with the DUP flag set.  A message
with a ``client_event_id`` is deduplicated by it, as in the REST API.  A message without
one gets ``mqtt:<hash of topic and payload>``; a redelivery (DUP set) of content already
stored is a duplicate, but the same content arriving afresh (DUP clear: the publisher sent
it again, e.g. the same alarm a second time) is a new event with a suffixed id.  So a
publisher that repeats identical payloads should add ``occurred_at`` or a
``client_event_id`` to tell a retry from a new alarm precisely.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tocsin.intake.mqtt.config import MAX_PAYLOAD, MqttSettings, apply_update
from tocsin.intake.mqtt.store import EXCERPT, DeadLetter, DeadLetters
from tocsin.model import Severity, new_id
from tocsin.secret import Secret
from tocsin.services.context import Services
from tocsin.services.event_input import parse_events
from tocsin.services.inputs import InputRefused, decode_json
from tocsin.validation import Issue, Level, Report

__all__ = [
    "DEAD_LETTER_PROBLEM",
    "DEAD_LETTER_QUIET",
    "MqttService",
    "MqttStatus",
    "Outcome",
    "derived_client_id",
]

log = logging.getLogger("tocsin.mqtt")

_SETTINGS_KEY: Final = "mqtt_settings"
_STATUS_KEY: Final = "mqtt_status"
DEAD_LETTER_PROBLEM: Final = "mqtt_dead_letter"
"""The system notice's code: raised at the first dead letter of a burst."""
STATUS_STALE: Final = 90.0
"""A running subscriber rewrites its status every 20 s; older than this, it is not running."""
_LIVE: Final = frozenset({"connecting", "connected", "retrying", "disabled"})
DEAD_LETTER_QUIET: Final = 900.0
"""Seconds without a dead letter after which the notice is cleared (the burst is over)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``event_id`` (accepted) or ``reason`` (dead letter)."""

    event_id: str = ""
    duplicate: bool = False
    reason: str = ""
    detail: str = ""

    @property
    def accepted(self) -> bool:
        """True when the event is committed (a duplicate is committed already)."""
        return not self.reason


@dataclass(frozen=True, slots=True)
class MqttStatus:
    """The subscriber's state as ``tocsin serve`` last wrote it (read by other processes).

    ``state``: ``disabled``, ``connecting``, ``connected``, ``retrying`` or ``stopped``;
    ``error``: a stable code (``refused``, ``auth_failed``, ``tls_failed``...) while
    retrying; ``since``: when the state began (epoch seconds).
    """

    state: str = "stopped"
    since: float = 0.0
    error: str = ""
    detail: str = ""
    retry_in: float = 0.0
    broker: str = ""
    seen: float = 0.0
    """When ``tocsin serve`` last wrote it (rewritten every 20 s while it runs)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dataclasses.asdict(self)


def derived_client_id(topic: str, payload: bytes) -> str:
    """The client event id of a message that names none: its topic and payload, hashed."""
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass") + b"\0" + payload)
    return f"mqtt:{digest.hexdigest()[:40]}"


class MqttService:
    """Settings, status and message intake of MQTT, over one opened :class:`Services`."""

    def __init__(self, services: Services, *, clock: Callable[[], float] = time.time) -> None:
        self._services = services
        self._store = services.store
        self._box = services.box
        self._clock = clock
        self.dead_letters = DeadLetters(services.store)

    # ------------------------------------------------------------------ settings
    def load(self) -> MqttSettings:
        """The saved settings, or the defaults (off)."""
        raw = self._store.get_value(_SETTINGS_KEY)
        if raw is None:
            return MqttSettings()
        data: dict[str, Any] = json.loads(raw)
        token = data.pop("password_encrypted", None)
        known = {f.name for f in dataclasses.fields(MqttSettings)} - {"password"}
        values = {k: v for k, v in data.items() if k in known}
        values["topics"] = tuple(values.get("topics", ()))
        values["password"] = self._box.decrypt(token) if token else None
        return MqttSettings(**values)

    def save(self, settings: MqttSettings) -> MqttSettings:
        """Store ``settings`` as they are (validate first: :meth:`update`); the client id
        is made here if there is none, and the settings as stored are returned."""
        if not settings.client_id:
            settings = dataclasses.replace(settings, client_id=f"tocsin-{secrets.token_hex(6)}")
        data = settings.public()
        for name in ("password_set", "qos", "password"):
            data.pop(name)
        password: Secret | None = settings.password
        data["password_encrypted"] = self._box.encrypt(password) if password else None
        self._store.put_value(_SETTINGS_KEY, json.dumps(data, sort_keys=True))
        return settings

    def fingerprint(self) -> str:
        """Changes with every save (the subscriber reconnects when it does)."""
        raw = self._store.get_value(_SETTINGS_KEY) or ""
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def update(self, changes: Mapping[str, object]) -> tuple[MqttSettings, Report, bool]:
        """Validate and apply ``changes``; save only when there is no error.

        Returns the settings as they would be (as stored, when saved), the report, and
        whether they were saved.
        """
        updated, report = apply_update(self.load(), changes)
        if updated.ca_file and not _readable(updated.ca_file):
            report = report + Report.of([_ca_issue(updated.ca_file)])
        if not report.ok:
            return updated, report, False
        return self.save(updated), report, True

    # ------------------------------------------------------------------ status
    def status(self) -> MqttStatus:
        """The subscriber's last written state: ``stopped`` when none was written, or
        when ``tocsin serve`` has not rewritten it for :data:`STATUS_STALE` seconds
        (killed, or the machine stopped)."""
        raw = self._store.get_value(_STATUS_KEY)
        if raw is None:
            return MqttStatus()
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in dataclasses.fields(MqttStatus)}
        status = MqttStatus(**{k: v for k, v in data.items() if k in known})
        if status.state in _LIVE and status.seen < self._clock() - STATUS_STALE:
            return MqttStatus("stopped", status.seen, broker=status.broker, seen=status.seen)
        return status

    def set_status(self, status: MqttStatus) -> None:
        """Write the subscriber's state for the page, the API and ``tocsin mqtt status``."""
        self._store.put_value(_STATUS_KEY, json.dumps(status.as_dict(), sort_keys=True))

    # ------------------------------------------------------------------ messages
    def handle(self, topic: str, payload: bytes, *, redelivered: bool = False) -> Outcome:
        """Turn one message into a committed event, or a dead letter (see the module).

        Raises :class:`~tocsin.errors.StorageFull` and database errors: nothing was
        stored, and the message must not be acknowledged.
        """
        if len(payload) > MAX_PAYLOAD:
            return self._dead(topic, payload, "payload_too_large", f"{len(payload)} bytes")
        try:
            data = decode_json(payload)
            if not isinstance(data, dict) or "events" in data:
                return self._dead(topic, payload, "not_one_event", "a JSON object: one event")
            (event,) = parse_events(data)
            derived = event.client_event_id is None
            if derived:
                event = dataclasses.replace(
                    event, client_event_id=derived_client_id(topic, payload)
                )
            (accepted,) = self._services.events.accept([event])
            if derived and accepted.duplicate and not redelivered:
                # The same content again, sent afresh: a new occurrence, not a retry.
                fresh = f"{event.client_event_id}:{new_id()}"
                (accepted,) = self._services.events.accept(
                    [dataclasses.replace(event, client_event_id=fresh)]
                )
        except InputRefused as refused:
            first = refused.issues[0]
            return self._dead(topic, payload, first.code, f"{first.field}: {first.text('en')}")
        return Outcome(event_id=accepted.id, duplicate=accepted.duplicate)

    def _dead(self, topic: str, payload: bytes, reason: str, detail: str) -> Outcome:
        letter = DeadLetter(
            received_at=self._clock(),
            topic=topic[:200],
            reason=reason,
            detail=detail[:300],
            size=len(payload),
            excerpt=payload[:EXCERPT].decode("utf-8", "replace"),
        )
        self.dead_letters.record(letter)
        # One line, no payload (it may carry anything): the topic, the reason, the size.
        log.warning(
            "mqtt message on %r dead-lettered: %s (%d bytes)", letter.topic, reason, letter.size
        )
        self._services.events.report_system(
            DEAD_LETTER_PROBLEM,
            f"MQTT messages were refused (dead-lettered): the newest on '{letter.topic}': "
            f"{reason}. See Ways in → MQTT for the messages and what to fix.",
            severity=Severity.WARNING,
        )
        return Outcome(reason=reason, detail=letter.detail)

    def dead_letter_problem(self) -> dict[str, str]:
        """``mqtt_dead_letter`` → text while a dead letter is younger than the quiet time
        (a :class:`~tocsin.services.summaries.ProblemCheck`'s ``current``)."""
        newest = self.dead_letters.newest(limit=1)
        if newest and newest[0].received_at > self._clock() - DEAD_LETTER_QUIET:
            return {
                DEAD_LETTER_PROBLEM: f"MQTT messages were refused; newest on '{newest[0].topic}'."
            }
        return {}


def _readable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _ca_issue(path: str) -> Issue:
    return Issue(
        "ca_file", "ca_file_missing", Level.ERROR, {"path": path, "detail": "not a readable file"}
    )
