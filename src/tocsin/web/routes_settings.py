"""The email settings page: show, save (through the settings service), and test."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response, status

from tocsin.address import InvalidAddress, parse_address
from tocsin.errors import Step
from tocsin.http import services_of
from tocsin.model import Session
from tocsin.settings import (
    DEFAULT_PORTS,
    AuthMethod,
    EmailSettings,
    Encryption,
    OAuthFlow,
    OAuthProvider,
    validate,
)
from tocsin.web.discovery_view import discovery_view
from tocsin.web.form_pages import admin_form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.settings_form import (
    CHECKBOXES,
    ENCRYPTIONS,
    FIELD_LABELS,
    TEXT_FIELDS,
    SettingsView,
    changes_from_form,
    default_ports_json,
    values_from_form,
    values_from_settings,
    view_of,
)
from tocsin.web.texts import translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH = "/settings/email"


def _script_texts(language: str) -> str:
    """The texts the test-email script shows, as JSON for a ``data-`` attribute."""
    t = translator(language)
    keys = [f"step_{step.value}" for step in Step]
    keys += ["step_ok", "step_fail", "step_start", "test_running", "test_ok", "test_failed"]
    keys += ["test_refused", "test_bad_recipient", "test_session", "test_network"]
    keys += ["server_reply", "step_hint", "test_save_offer", "test_save_tested"]
    keys += ["test_changed_since", "step_greeting", "test_cancelled"]
    texts = {key: t(key) for key in keys}
    # Templates with a placeholder, filled in by the script.
    texts["test_rate_limited"] = t("test_rate_limited", seconds="{seconds}")
    texts["test_error"] = t("test_error", status="{status}")
    texts["step_waiting"] = t("step_waiting", what="{what}")
    texts.update({f"field_{name}": t(label) for name, label in FIELD_LABELS.items()})
    return json.dumps(texts, ensure_ascii=False)


def _admin_address(session: Session) -> str:
    """The signed-in admin's own address, if their username is one (the test's recipient)."""
    try:
        return str(parse_address(session.admin.username))
    except InvalidAddress:
        return ""


def _online_texts(language: str) -> str:
    """The texts the online-status script shows, as JSON for a ``data-`` attribute."""
    t = translator(language)
    texts = {key: t(key) for key in ("online_checking", "online_not_checked")}
    texts["online_reachable"] = t("online_reachable", device="{device}", ms="{ms}")
    texts["online_unreachable"] = t("online_unreachable", reason="{reason}")
    texts["online_check_failed"] = t("online_check_failed", status="{status}")
    return json.dumps(texts, ensure_ascii=False)


def _enrolment(settings: EmailSettings) -> dict[str, Any]:
    """What the page shows of this installation's enrolment (never the credential)."""
    return {
        "enrolled": bool(settings.relay_url and settings.device_credential),
        "relay_url": settings.relay_url,
        "device_id": settings.device_id,
        "credential_set": bool(settings.device_credential),
    }


def _oauth_state(settings: EmailSettings, language: str) -> dict[str, Any]:
    """What the OAuth2 block shows of the stored sign-in (never a secret), and its texts."""
    t = translator(language)
    keys = ("oauth_web_starting", "oauth_web_waiting", "oauth_web_unreachable")
    return {
        "secret_set": settings.oauth_client_secret is not None,
        "signed_in": settings.oauth_refresh_token is not None,
        "providers": [(p.value, t(f"oauth_provider_{p.value}")) for p in OAuthProvider],
        "flows": [(f.value, t(f"oauth_flow_{f.value}")) for f in OAuthFlow],
        "methods": [(m.value, t(f"auth_method_{m.value}")) for m in AuthMethod],
        "texts": json.dumps({key: t(key) for key in keys}),
    }


def _page(
    request: Request, session: Session, view: SettingsView, *, saved: bool = False, code: int = 200
) -> Response:
    language = language_of(request, session)
    t = translator(language)
    settings = services_of(request).settings.load()
    modes: list[dict[str, Any]] = [
        {
            "value": mode.value,
            "label": t(f"encryption_{mode.value}"),
            "help": t(f"encryption_{mode.value}_help", port=DEFAULT_PORTS[mode]),
        }
        for mode in ENCRYPTIONS
    ]
    return render(
        request,
        "settings.html",
        language=language,
        session=session,
        active="email",
        view=view,
        saved=saved,
        modes=modes,
        ports={mode.value: port for mode, port in DEFAULT_PORTS.items()},
        no_encryption=Encryption.NONE.value,
        default_ports=default_ports_json(),
        script_texts=_script_texts(language),
        form_fields=json.dumps({"text": list(TEXT_FIELDS), "checks": list(CHECKBOXES)}),
        test_to=_admin_address(session),
        online=_enrolment(settings),
        online_texts=_online_texts(language),
        discovery=discovery_view(language),
        oauth=_oauth_state(settings, language),
        http_status=code,
    )


@router.get(PATH)
def settings_page(request: Request) -> Response:
    """The settings as saved, with the advice that applies to them."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    settings = services_of(request).settings.load()
    language = language_of(request, session)
    view = view_of(
        values_from_settings(settings), bool(settings.password), validate(settings), language
    )
    return _page(request, session, view, saved=request.query_params.get("saved") == "1")


@router.post(PATH)
async def settings_save(request: Request) -> Response:
    """Save through the service: all or nothing; errors next to their fields."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    services = services_of(request)
    _, report, saved = services.settings.update(changes_from_form(form))
    if saved:
        return redirect(f"{PATH}?saved=1")
    values = values_from_form(form)
    stored = services.settings.load()
    view = view_of(values, bool(stored.password), report, language_of(request, session))
    return _page(request, session, view, code=status.HTTP_422_UNPROCESSABLE_CONTENT)
