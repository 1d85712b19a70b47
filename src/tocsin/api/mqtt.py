"""REST: the MQTT intake's settings (password write-only), its status and dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from tocsin.api.auth import Principal, answer_language, require_admin
from tocsin.api.json_route import StrictJSONRoute
from tocsin.http import services_of
from tocsin.i18n import translate
from tocsin.intake.mqtt.config import validate
from tocsin.intake.mqtt.service import MqttService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/intake/mqtt", tags=["mqtt"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, require_admin]


def _status(service: MqttService, language: str) -> dict[str, Any]:
    status = service.status()
    return {
        **status.as_dict(),
        "message": translate(f"mqtt_state_{status.state}", language),
        "error_message": translate(f"mqtt_error_{status.error}", language) if status.error else "",
    }


@router.get("")
def read_mqtt(request: Request, principal: Admin) -> dict[str, Any]:
    """The settings (the password only as ``password_set``), advice, and the status."""
    language = answer_language(request, principal)
    service = MqttService(services_of(request))
    settings = service.load()
    return {
        "settings": settings.public(),
        "issues": validate(settings).as_dicts(language),
        "status": _status(service, language),
    }


@router.put("", responses={422: {"description": "refused: field-named errors"}})
def change_mqtt(
    request: Request,
    principal: Admin,
    changes: Annotated[
        dict[str, Any],
        Body(
            description=(
                "fields to change (others keep their value); password: a string sets it, "
                "null clears it, leaving it out keeps it"
            )
        ),
    ],
) -> JSONResponse:
    """Change the settings as a whole: refused with field-named errors, or saved with
    advice.  ``tocsin serve`` reconnects with them within seconds."""
    language = answer_language(request, principal)
    updated, report, saved = MqttService(services_of(request)).update(changes)
    body = {"saved": saved, "settings": updated.public(), "issues": report.as_dicts(language)}
    return JSONResponse(body, status_code=200 if saved else 422)


@router.get("/dead-letters")
def dead_letters(request: Request, _principal: Admin, limit: int = 50) -> dict[str, Any]:
    """The newest messages that could not become an event (topic, reason, excerpt)."""
    service = MqttService(services_of(request))
    letters = service.dead_letters.newest(limit=max(1, min(limit, 500)))
    return {
        "total": service.dead_letters.count(),
        "dead_letters": [
            {
                "received_at": d.received_at,
                "topic": d.topic,
                "reason": d.reason,
                "detail": d.detail,
                "size": d.size,
                "excerpt": d.excerpt,
            }
            for d in letters
        ],
    }
