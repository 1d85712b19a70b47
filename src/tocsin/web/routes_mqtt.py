"""The page /ways-in/mqtt: the MQTT intake's settings, its status and its dead letters.

A face: the form goes to :meth:`~tocsin.intake.mqtt.service.MqttService.update` (the
validator the API and the CLI share); errors come back next to their fields.  The
password is write-only: the page says whether one is set, an empty box keeps it.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Final

from fastapi import Request, Response, status
from fastapi.routing import APIRouter

from tocsin.http import services_of
from tocsin.i18n import translate
from tocsin.intake.mqtt.config import MqttSettings, validate
from tocsin.intake.mqtt.service import MqttService
from tocsin.model import Session
from tocsin.validation import Report
from tocsin.web.form_pages import admin_form
from tocsin.web.forms import Form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.zones import page_zone, when

__all__ = ["PATH", "router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/ways-in/mqtt"
_TEXT_FIELDS: Final = ("host", "port", "ca_file", "username", "client_id")


def _values(settings: MqttSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "host": settings.host,
        "port": str(settings.port),
        "tls": settings.tls,
        "ca_file": settings.ca_file,
        "username": settings.username,
        "client_id": settings.client_id,
        "topics": "\n".join(settings.topics),
    }


def _values_from_form(form: Form) -> dict[str, Any]:
    values: dict[str, Any] = {name: form.get(name, "") for name in _TEXT_FIELDS}
    values["enabled"] = form.get("enabled") == "on"
    values["tls"] = form.get("tls") == "on"
    values["topics"] = form.get("topics", "")
    return values


def _changes(form: Form) -> dict[str, object]:
    values = _values_from_form(form)
    changes: dict[str, object] = {k: v.strip() for k, v in values.items() if isinstance(v, str)}
    changes["enabled"], changes["tls"] = values["enabled"], values["tls"]
    changes["topics"] = [t.strip() for t in values["topics"].splitlines() if t.strip()]
    if form.get("password_clear") == "on":
        changes["password"] = None
    elif form.get("password"):
        changes["password"] = form["password"]
    return changes


def _errors(report: Report, language: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for issue in report.issues:
        found.setdefault(issue.field, []).append(issue.text(language))
    return found


def _page(
    request: Request,
    session: Session,
    values: dict[str, Any],
    report: Report,
    *,
    code: int = status.HTTP_200_OK,
) -> Response:
    language = language_of(request, session)
    service = MqttService(services_of(request))
    state = service.status()
    letters = service.dead_letters.newest(limit=20)
    zone = page_zone(request)
    topic = (values["topics"].splitlines() or ["site/events"])[0].replace("#", "x")
    return render(
        request,
        "mqtt.html",
        language=language,
        session=session,
        active="ways-in",
        v=values,
        errors=_errors(report, language),
        advice=[i.text(language) for i in report.advice],
        password_set=service.load().password is not None,
        saved=request.query_params.get("saved") == "1",
        state=state,
        state_text=translate(f"mqtt_state_{state.state}", language),
        error_text=translate(f"mqtt_error_{state.error}", language) if state.error else "",
        letters=[
            {
                "when": when(d.received_at, zone),
                "topic": d.topic,
                "reason": d.reason,
                "detail": d.detail,
                "excerpt": d.excerpt,
            }
            for d in letters
        ],
        dead_total=service.dead_letters.count(),
        zone=zone,
        example_command=_example_command(topic),
        http_status=code,
    )


def _example_command(topic: str) -> str:
    """A mosquitto_pub line that publishes one event on ``topic`` (shell-quoted)."""
    event = {
        "group": "server-room",
        "device": "Smoke detector 2",
        "sensor": "smoke",
        "category": "fire",
        "severity": "alarm",
    }
    return shlex.join(["mosquitto_pub", "-q", "1", "-t", topic, "-m", json.dumps(event)])


@router.get(PATH)
def mqtt_page(request: Request) -> Response:
    """The settings as saved, the subscriber's status and the newest dead letters."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    settings = MqttService(services_of(request)).load()
    return _page(request, session, _values(settings), validate(settings))


@router.post(PATH)
async def mqtt_save(request: Request) -> Response:
    """Save through the service: all or nothing; errors next to their fields."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    _, report, saved = MqttService(services_of(request)).update(_changes(form))
    if saved:
        return redirect(f"{PATH}?saved=1")
    return _page(
        request,
        session,
        _values_from_form(form),
        report,
        code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
