"""The email settings page: show, save (through the settings service), and test."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response, status

from tocsin.address import InvalidAddress, parse_address
from tocsin.errors import ConfigError, DeliveryError, Reason, Step
from tocsin.http import services_of
from tocsin.model import Session
from tocsin.settings import (
    DEFAULT_PORTS,
    AuthMethod,
    EmailSettings,
    Encryption,
    OAuthFlow,
    OAuthProvider,
    relay_url_problem,
    validate,
)
from tocsin.transports.online import fetch_device
from tocsin.web.discovery_view import discovery_view
from tocsin.web.failover_form import changes_from_form as failover_changes
from tocsin.web.failover_form import failover_view
from tocsin.web.form_pages import admin_form
from tocsin.web.render import redirect, render
from tocsin.web.routes_ack import public_url_view
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
    # Why the check failed, in words (the API's reason codes are not for people).
    texts.update({f"reason_{r.value}": t(f"reason_{r.value}") for r in Reason})
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
    keys = (
        "oauth_web_starting",
        "oauth_web_waiting",
        "oauth_web_unreachable",
        "oauth_web_device_chosen",
    )
    return {
        "secret_set": settings.oauth_client_secret is not None,
        "certificate_set": settings.oauth_client_certificate is not None,
        "key_set": settings.oauth_service_account_key is not None,
        "signed_in": settings.oauth_refresh_token is not None,
        "providers": [(p.value, t(f"oauth_provider_{p.value}")) for p in OAuthProvider],
        "flows": [(f.value, t(f"oauth_flow_{f.value}")) for f in OAuthFlow],
        "methods": [(m.value, t(f"auth_method_{m.value}")) for m in AuthMethod],
        "texts": json.dumps({key: t(key) for key in keys}),
    }


def _page(
    request: Request,
    session: Session,
    view: SettingsView,
    *,
    saved: bool = False,
    code: int = 200,
    failover: dict[str, Any] | None = None,
) -> Response:
    language = language_of(request, session)
    t = translator(language)
    settings = services_of(request).settings.load()
    if failover is None:  # the section as saved (the failover route passes it as typed)
        failover = failover_view(services_of(request).failover.load(), language=language)
    modes: list[dict[str, Any]] = [
        {
            "value": mode.value,
            "label": t(f"encryption_{mode.value}"),
            "help": t(f"encryption_{mode.value}_help", port=DEFAULT_PORTS[mode]),
        }
        for mode in ENCRYPTIONS
    ]
    query = request.query_params
    failed = query.get("enrol_failed", "")
    enrol_error = ""
    if failed in ENROL_FAILURES:
        reason = query.get("reason", "")
        reason_text = t(f"reason_{reason}") if reason in {r.value for r in Reason} else ""
        enrol_error = t(f"enrol_{failed}", reason=reason_text)
        view.values["transport"] = "online"  # the section the user was in (nothing saved)
    return render(
        request,
        "settings.html",
        enrol_error=enrol_error,
        enrol_url=query.get("url", "")[:2048] if enrol_error else "",
        enrolled=query.get("enrolled") == "1" and bool(settings.device_credential),
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
        failover=failover,
        failover_saved=request.query_params.get("failover_saved") == "1",
        public_url=public_url_view(request),  # issue 13: its own box, _public_url.html
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


@router.post(PATH + "/failover")
async def failover_save(request: Request) -> Response:
    """Save the failover section through its service: all or nothing, errors by field."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    services = services_of(request)
    chain = services.failover.load()
    _, report, saved = services.failover.update(failover_changes(form, chain))
    if saved:
        return redirect(f"{PATH}?failover_saved=1#failover")
    language = language_of(request, session)
    settings = services.settings.load()
    view = view_of(
        values_from_settings(settings), bool(settings.password), validate(settings), language
    )
    section = failover_view(chain, form, report, language)
    return _page(
        request, session, view, code=status.HTTP_422_UNPROCESSABLE_CONTENT, failover=section
    )


ENROL_FAILURES = frozenset({"no_token", "bad_url", "bad_token", "unreachable", "not_saved"})
"""Why an enrolment from the page failed (each a text ``enrol_<code>``)."""


def _enrol_failed(code: str, url: str, reason: str = "") -> Response:
    """Back to the page (a reload never posts the token again), saying why; the address
    typed comes back, the token is typed again."""
    query = {"enrol_failed": code, "url": url} | ({"reason": reason} if reason else {})
    return redirect(f"{PATH}?{urlencode(query)}#online-enrol")


@router.post(PATH + "/enrol")
async def enrol(request: Request) -> Response:
    """Enrol with the online service, with the checks of ``tocsin online enroll``: the
    address, then the token with the relay itself; only then switch to the service."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    _, form = checked
    url = form.get("relay_url", "").strip()
    token = form.get("token", "").strip()
    ca_file = form.get("ca_file", "").strip()
    if relay_url_problem(url) is not None:
        return _enrol_failed("bad_url", url)
    if not token:
        return _enrol_failed("no_token", url)
    try:
        info = await fetch_device(url, token, ca_file=ca_file)
    except ConfigError:
        return _enrol_failed("bad_url", url)
    except DeliveryError as exc:
        if exc.reason is Reason.AUTH_FAILED:
            return _enrol_failed("bad_token", url)
        return _enrol_failed("unreachable", url, exc.reason.value)
    services = services_of(request)
    changes: dict[str, object] = {
        "transport": "online",
        "relay_url": url,
        "device_id": info.name,
        "device_credential": token,
    }
    if ca_file:
        changes["ca_file"] = ca_file
    addresses = [s for s in info.senders if not s.startswith("@")]
    if addresses and not services.settings.load().sender_address:
        changes["sender_address"] = addresses[0]
    _, _, saved = services.settings.update(changes)
    if not saved:
        return _enrol_failed("not_saved", url)
    return redirect(f"{PATH}?enrolled=1")
