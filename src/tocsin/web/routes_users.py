"""The users pages: the list, add, edit, disable / enable and remove (through the sites service)."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response, status

from tocsin.api.auth import services_of
from tocsin.model import Category, User
from tocsin.routing import GroupTree
from tocsin.services.inputs import InputRefused
from tocsin.services.sites import NotFound, SitesService
from tocsin.store.accounts_sql import Session
from tocsin.web.guard import DONE_KEYS, admin_form, not_found
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.site_form import (
    CATEGORIES,
    CATEGORY_FIELD,
    GROUP_FIELD,
    errors_by_field,
    user_payload,
    user_values,
    user_values_from_form,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/users"
FIELDS: Final = ("id", "name", "email", "language", "time_zone", "enabled", "groups", "categories")


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones this system knows, sorted (for the form's suggestion list)."""
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def _user_row(user: User, tree: GroupTree) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "language": str(user.language),
        "time_zone": user.time_zone,
        "enabled": user.enabled,
        "groups": sorted(" / ".join(tree.path(g)) for g in user.group_ids if g in tree),
        "categories": [(c.value, user.wants_email(c)) for c in Category],
    }


def _done(request: Request) -> tuple[str, str]:
    done = request.query_params.get("done", "")
    return (done, request.query_params.get("name", "")[:200]) if done in DONE_KEYS else ("", "")


def _done_redirect(done: str, name: str) -> Response:
    return redirect(f"{PATH}?{urlencode({'done': done, 'name': name})}")


@router.get(PATH)
def users(request: Request) -> Response:
    """Every user: address, groups, the categories they get email for, and actions."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    sites = services_of(request).sites
    tree = sites.view().tree
    return render(
        request,
        "users.html",
        language=language_of(request, session),
        session=session,
        active="users",
        users=[_user_row(u, tree) for u in sites.users()],
        done=_done(request),
    )


def _form_page(
    request: Request,
    session: Session,
    sites: SitesService,
    *,
    values: dict[str, Any],
    editing: str = "",
    errors: dict[str, list[str]] | None = None,
) -> Response:
    view = sites.view()
    tree = view.tree
    groups = [
        {
            "id": g.id,
            "name": g.name,
            "path": " / ".join(tree.path(g.id)),
            "depth": len(tree.lineage(g.id)) - 1,
        }
        for g in sites.groups()
    ]
    return render(
        request,
        "user_form.html",
        language=language_of(request, session),
        session=session,
        active="users",
        values=values,
        editing=editing,
        saved_name=_saved_name(sites, editing),
        action=f"{PATH}/{quote(editing, safe='')}/edit" if editing else f"{PATH}/new",
        errors=errors or {},
        groups=groups,
        categories=CATEGORIES,
        group_field=GROUP_FIELD,
        category_field=CATEGORY_FIELD,
        zones=time_zones(),
        http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


@router.get(PATH + "/new")
def new_user(request: Request) -> Response:
    """The empty form: every category off, as in KentixONE."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    return _form_page(request, session, services_of(request).sites, values=user_values(None))


@router.post(PATH + "/new")
async def add_user(request: Request) -> Response:
    """Add the user; on a refusal nothing is saved and the form shows why, per field."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    sites = services_of(request).sites
    values = user_values_from_form(form)
    try:
        user = sites.add_user(user_payload(values, with_id=True))
    except InputRefused as exc:
        errors = errors_by_field(exc, language_of(request, session), FIELDS)
        return _form_page(request, session, sites, values=values, errors=errors)
    return _done_redirect("added", user.name or user.id)


@router.get(PATH + "/{user_id}/edit")
def edit_user(request: Request, user_id: str) -> Response:
    """The form filled with the user's settings."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    sites = services_of(request).sites
    try:
        user = sites.user(user_id)
    except NotFound:
        return not_found(request, session)
    return _form_page(request, session, sites, values=user_values(user), editing=user.id)


@router.post(PATH + "/{user_id}/edit")
async def save_user(request: Request, user_id: str) -> Response:
    """Save every field of the form (the id stays)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    sites = services_of(request).sites
    values = {**user_values_from_form(form), "id": user_id}
    try:
        user = sites.update_user(user_id, user_payload(values, with_id=False))
    except NotFound:
        return not_found(request, session)
    except InputRefused as exc:
        errors = errors_by_field(exc, language_of(request, session), FIELDS)
        return _form_page(request, session, sites, values=values, editing=user_id, errors=errors)
    return _done_redirect("saved", user.name or user.id)


@router.post(PATH + "/{user_id}/enabled")
async def set_enabled(request: Request, user_id: str) -> Response:
    """Disable or enable a user (``enabled`` = ``on`` / ``off``)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    enabled = form.get("enabled") == "on"
    try:
        user = services_of(request).sites.update_user(user_id, {"enabled": enabled})
    except NotFound:
        return not_found(request, session)
    return _done_redirect("enabled" if enabled else "disabled", user.name or user.id)


@router.post(PATH + "/{user_id}/remove")
async def remove_user(request: Request, user_id: str) -> Response:
    """Remove a user (confirmed in the page's "Remove…" block)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    sites = services_of(request).sites
    try:
        name = sites.user(user_id).name or user_id
        sites.remove_user(user_id)
    except NotFound:
        return not_found(request, session)
    return _done_redirect("removed", name)


def _saved_name(sites: SitesService, user_id: str) -> str:
    """The stored name of the user being edited (the title keeps it while the form is wrong)."""
    found = sites.view().user(user_id) if user_id else None
    return (found.name or found.id) if found is not None else user_id
