"""The "Ways in" page: the webhook URLs, ready-to-paste Alertmanager and Grafana set-up,
and the label mapping form.  (The MQTT way in has its own page below ``/ways-in``.)"""

from __future__ import annotations

import os
from typing import Any, Final

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from tocsin.http import services_of
from tocsin.intake.mapping import MAPPING_FIELDS, IntakeMapping, mapping_to_dict
from tocsin.model import Category, Session, Severity
from tocsin.services.context import Services
from tocsin.services.events import ENV_PUBLIC_URL
from tocsin.services.inputs import InputRefused
from tocsin.web.form_pages import admin_form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.texts import translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/ways-in"
LISTS: Final = tuple(f for f in MAPPING_FIELDS if not f.startswith("default_"))
CHOICES: Final = ("default_group", "default_category", "default_severity")


def base_url(request: Request) -> str:
    """Where senders reach Tocsin: ``$TOCSIN_PUBLIC_URL``, else the address of this page."""
    public = os.environ.get(ENV_PUBLIC_URL, "").strip()
    return (public or str(request.base_url)).rstrip("/")


TOKEN_COMMAND: Final = "tocsin token create alertmanager"  # noqa: S105  (a command, no secret)


def alertmanager_snippet(url: str, placeholder: str) -> str:
    """The ``alertmanager.yml`` lines that send every alert to Tocsin (``url``), resolved
    ones too, with the token's place marked by ``placeholder``."""
    return (
        "route:\n"
        "  receiver: tocsin\n"
        "receivers:\n"
        "  - name: tocsin\n"
        "    webhook_configs:\n"
        f"      - url: {url}\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        "            type: Bearer\n"
        f'            credentials: "{placeholder}"'
    )


def _form_values(mapping: IntakeMapping) -> dict[str, str]:
    data = mapping_to_dict(mapping)
    return {k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in data.items()}


def _page(
    request: Request,
    session: Session,
    services: Services,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response:
    view = services.sites.view()
    roots = [g.id for g in view.tree.groups.values() if g.parent_id is None]
    paths = [(g, " / ".join(view.tree.path(g))) for g in view.tree.groups]
    url = base_url(request)
    language = language_of(request, session)
    placeholder = translator(language)("ways_in_token_placeholder")
    return render(
        request,
        "ways_in.html",
        language=language,
        session=session,
        active="ways-in",
        urls={
            "alertmanager": f"{url}/api/v1/intake/alertmanager",
            "grafana": f"{url}/api/v1/intake/grafana",
        },
        am_snippet=alertmanager_snippet(f"{url}/api/v1/intake/alertmanager", placeholder),
        token_command=TOKEN_COMMAND,
        values=values or _form_values(services.webhooks.mapping.load()),
        errors=errors or {},
        lists=LISTS,
        groups=paths,
        only_root=paths[[p[0] for p in paths].index(roots[0])][1] if len(roots) == 1 else "",
        categories=[c.value for c in Category],
        severities=[s.value for s in Severity],
        saved=request.query_params.get("saved") == "1",
        http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


@router.get(PATH)
def ways_in(request: Request) -> Response:
    """The webhook set-up and the mapping form."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    return _page(request, session, services_of(request))


def _changes(form: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in LISTS:
        if name in form:
            changes[name] = [v.strip() for v in form[name].split(",") if v.strip()]
    for name in CHOICES:
        if name in form:
            changes[name] = form[name].strip()
    return changes


@router.post(PATH)
async def save_mapping(request: Request) -> Response:
    """Save the mapping form (all fields, validated by the service)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    services = services_of(request)
    try:
        await run_in_threadpool(services.webhooks.mapping.update, _changes(form))
    except InputRefused as exc:
        language = language_of(request, session)
        errors: dict[str, list[str]] = {}
        for issue in exc.issues:
            name = issue.field.split("[")[0].split(".")[0]
            errors.setdefault(name if name in MAPPING_FIELDS else "", []).append(
                issue.text(language)
            )
        values = {name: form.get(name, "") for name in MAPPING_FIELDS}
        return _page(request, session, services, values=values, errors=errors)
    return redirect(f"{PATH}?saved=1#mapping")
