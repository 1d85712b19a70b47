"""The MQTT intake's settings: one broker, its topics, and how to sign in (core, no I/O).

Validated once, here, for the REST API, the web page and the CLI alike.  The password
is a :class:`~tocsin.secret.Secret` (write-only everywhere); :data:`~tocsin.secret.UNSET`
in an update keeps the stored one.  TLS is verified always (the system's CAs, or the
CA file named); there is no "insecure" switch.  QoS is 1, fixed: at-least-once, with
the broker keeping what Tocsin has not acknowledged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tocsin.secret import UNSET, Secret, Unset
from tocsin.settings import host_problem
from tocsin.validation import Issue, Level, Report

__all__ = [
    "DEFAULT_PORTS",
    "FIELDS",
    "MAX_PAYLOAD",
    "MAX_TOPICS",
    "QOS",
    "MqttSettings",
    "apply_update",
    "topic_problem",
    "validate",
]

QOS: Final = 1
"""Every subscription is QoS 1: the broker redelivers until Tocsin acknowledges."""
DEFAULT_PORTS: Final = {False: 1883, True: 8883}
"""The broker's port by TLS off / on (IANA: 1883 mqtt, 8883 secure-mqtt)."""
MAX_TOPICS: Final = 50
MAX_TOPIC_CHARS: Final = 200
MAX_PAYLOAD: Final = 64 * 1024
"""Bytes of one message; a larger one is dead-lettered (an event is a few hundred)."""
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NAME_LIMIT: Final = 256
FIELDS: Final = (
    "enabled",
    "host",
    "port",
    "tls",
    "ca_file",
    "username",
    "password",
    "client_id",
    "topics",
)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where Tocsin subscribes; off until ``enabled`` (see the module docstring)."""

    enabled: bool = False
    host: str = ""
    port: int = DEFAULT_PORTS[False]
    tls: bool = False
    ca_file: str = ""
    username: str = ""
    password: Secret | None = None
    client_id: str = ""
    """Stable across restarts: the broker keeps the session (and the messages) under it."""
    topics: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """A JSON-ready form without the password (``password_set`` says if there is one)."""
        # Not dataclasses.asdict: it would copy the Secret (which refuses to be copied).
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["topics"] = list(self.topics)
        data["password"] = None
        data["password_set"] = self.password is not None
        data["qos"] = QOS
        return data


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` is not a valid subscription filter (MQTT 3.1.1 §4.7), or None."""
    if not topic or len(topic) > MAX_TOPIC_CHARS:
        return f"1 to {MAX_TOPIC_CHARS} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in topic):
        return "no control characters"
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' only as the whole last level"
        if "+" in level and level != "+":
            return "'+' only as a whole level"
    return None


def _text(value: object, field: str, issues: list[Issue], limit: int = _NAME_LIMIT) -> str:
    if not isinstance(value, str):
        issues.append(_error(field, "field_type", expected="text"))
        return ""
    if len(value) > limit:
        issues.append(_error(field, "field_too_long", limit=limit, length=len(value)))
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        issues.append(_error(field, "invalid_value", detail="no control characters"))
    return value.strip()


def _error(field: str, code: str, **params: object) -> Issue:
    return Issue(field, code, Level.ERROR, {k: str(v) for k, v in params.items()})


def _flag(value: object, field: str, issues: list[Issue]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    }:
        return value.lower() in {"true", "yes", "on", "1"}
    issues.append(_error(field, "field_type", expected="true or false"))
    return False


def _port(value: object, issues: list[Issue]) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        issues.append(_error("port", "field_range", low=1, high=65535))
        return DEFAULT_PORTS[False]
    return value


def _topics(value: object, issues: list[Issue]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [t.strip() for t in value.replace("\n", ",").split(",") if t.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        issues.append(_error("topics", "field_type", expected="a list of topics"))
        return ()
    if len(value) > MAX_TOPICS:
        issues.append(_error("topics", "mqtt_too_many_topics", limit=MAX_TOPICS))
    for topic in value:
        problem = topic_problem(topic)
        if problem:
            issues.append(_error("topics", "mqtt_bad_topic", topic=topic[:80], detail=problem))
    return tuple(dict.fromkeys(value))


def apply_update(
    current: MqttSettings, changes: Mapping[str, object]
) -> tuple[MqttSettings, Report]:
    """``current`` with ``changes`` applied, and the report (errors refuse the save).

    Unknown fields are errors.  ``password``: a string sets it, None or "" clears it,
    :data:`UNSET` (or leaving it out) keeps it.  Turning TLS on or off with no port
    given (or the port unchanged) moves the port from one mode's default to the other's.
    """
    issues: list[Issue] = []
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            issues.append(_error(name, "field_unknown", known=", ".join(FIELDS)))
        elif name in {"enabled", "tls"}:
            values[name] = _flag(value, name, issues)
        elif name == "port":
            values[name] = _port(value, issues)
        elif name == "topics":
            values[name] = _topics(value, issues)
        elif name == "password":
            values[name] = _password(value, current, issues)
        else:
            values[name] = _text(value, name, issues, limit=4096 if name == "ca_file" else 256)
    # A form sends the port it showed: unchanged from the old mode's default, it follows.
    port_kept = values.get("port", current.port) == current.port
    if "tls" in values and port_kept and current.port == DEFAULT_PORTS[current.tls]:
        values["port"] = DEFAULT_PORTS[values["tls"]]
    updated = dataclasses.replace(current, **values)
    return updated, Report.of(issues) + validate(updated)


def _password(value: object, current: MqttSettings, issues: list[Issue]) -> Secret | None:
    if isinstance(value, Unset) or value is UNSET:
        return current.password
    if value is None or value == "":
        return None
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        issues.append(_error("password", "field_type", expected="text"))
        return current.password
    return Secret(value)


def validate(settings: MqttSettings) -> Report:
    """Errors that refuse ``settings`` (only when enabled is a host and a topic required)."""
    issues: list[Issue] = []
    if settings.host:
        problem = host_problem(settings.host)
        if problem:
            issues.append(_error("host", "invalid_host", detail=problem))
    if settings.client_id and not _CLIENT_ID.fullmatch(settings.client_id):
        issues.append(_error("client_id", "mqtt_bad_client_id"))
    if settings.password is not None and not settings.username:
        issues.append(_error("username", "mqtt_password_without_user"))
    if settings.enabled:
        if not settings.host:
            issues.append(_error("host", "field_missing"))
        if not settings.topics:
            issues.append(_error("topics", "field_missing"))
        if not settings.tls and settings.password is not None:
            issues.append(Issue("tls", "mqtt_password_in_clear", Level.WARNING))
    return Report.of(issues)
