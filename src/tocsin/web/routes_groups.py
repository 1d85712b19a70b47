"""The alarm-groups pages: the tree with each setting's origin, add, edit (rename, move,
per-category settings) and remove, through the sites service."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response, status

from tocsin.api.auth import services_of
from tocsin.model import AlarmGroup, Category, User
from tocsin.routing import GroupTree
from tocsin.services.inputs import InputRefused
from tocsin.services.sites import NotFound, SitesService
from tocsin.store.accounts_sql import Session
from tocsin.web.guard import DONE_KEYS, admin_form, not_found
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.site_form import (
    errors_by_field,
    group_payload,
    group_values,
    group_values_from_form,
    policy_source,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/groups"
FIELDS: Final = ("id", "name", "parent", *(f"policy_{c.value}" for c in Category))


def _policies(group: AlarmGroup, tree: GroupTree) -> list[dict[str, Any]]:
    """Per category: the settings in force, and whether set here, inherited (from whom)
    or the built-in default."""
    rows = []
    for category in Category:
        found = policy_source(tree, group.id, category)
        source, origin = "default", ""
        if found.group_id == group.id:
            source = "own"
        elif found.group_id is not None:
            source, origin = "inherited", tree.group(found.group_id).name
        rows.append(
            {
                "category": category.value,
                "source": source,
                "from": origin,
                "email_warnings": found.policy.email_warnings,
                "max_per_hour": found.policy.max_per_hour,
            }
        )
    return rows


def _node(group: AlarmGroup, tree: GroupTree, users: tuple[User, ...]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "children": list(tree.children(group.id)),
        "policies": _policies(group, tree),
        "users": sorted(u.name or u.id for u in users if group.id in u.group_ids),
    }


def _list_page(
    request: Request, session: Session, sites: SitesService, *, refusal: list[str] | None = None
) -> Response:
    view = sites.view()
    ordered = sites.groups()
    done = request.query_params.get("done", "")
    return render(
        request,
        "groups.html",
        language=language_of(request, session),
        session=session,
        active="groups",
        nodes={g.id: _node(g, view.tree, view.users) for g in ordered},
        roots=[g.id for g in ordered if g.parent_id is None],
        done=(done, request.query_params.get("name", "")[:200]) if done in DONE_KEYS else ("", ""),
        refusal=refusal or [],
        http_status=status.HTTP_409_CONFLICT if refusal else status.HTTP_200_OK,
    )


def _done_redirect(done: str, name: str) -> Response:
    return redirect(f"{PATH}?{urlencode({'done': done, 'name': name})}")


@router.get(PATH)
def groups(request: Request) -> Response:
    """The alarm-group tree, each group's settings marked set here or inherited (from whom)."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    return _list_page(request, session, services_of(request).sites)


def _inherit_previews(tree: GroupTree, parent: str) -> dict[str, dict[str, Any]]:
    """Per category, what "inherit" gives under ``parent`` and which group it comes from."""
    previews = {}
    for category in Category:
        found = policy_source(tree, parent or None, category)
        previews[category.value] = {
            "from": tree.group(found.group_id).name if found.group_id else "",
            "warnings": found.policy.email_warnings,
            "cap": found.policy.max_per_hour,
        }
    return previews


def _form_page(
    request: Request,
    session: Session,
    sites: SitesService,
    *,
    values: dict[str, Any],
    editing: str = "",
    errors: dict[str, list[str]] | None = None,
) -> Response:
    tree = sites.view().tree
    excluded = tree.subtree(editing) if editing in tree else frozenset()
    parents = [(g.id, " / ".join(tree.path(g.id))) for g in sites.groups() if g.id not in excluded]
    language = language_of(request, session)
    parent = values["parent"] if values["parent"] in tree else ""
    return render(
        request,
        "group_form.html",
        language=language,
        session=session,
        active="groups",
        values=values,
        editing=editing,
        saved_name=_saved_name(sites, editing),
        action=f"{PATH}/{quote(editing, safe='')}/edit" if editing else f"{PATH}/new",
        errors=errors or {},
        parents=parents,
        previews=_inherit_previews(tree, parent),
        categories=[c.value for c in Category],
        http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


@router.get(PATH + "/new")
def new_group(request: Request) -> Response:
    """The empty form (``?parent=`` preselects the parent); every category inherits."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    parent = request.query_params.get("parent", "")
    values = group_values(None, parent=parent)
    return _form_page(request, session, services_of(request).sites, values=values)


@router.post(PATH + "/new")
async def add_group(request: Request) -> Response:
    """Add the group; on a refusal nothing is saved and the form shows why, per field."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    sites = services_of(request).sites
    values = group_values_from_form(form)
    try:
        group = sites.add_group(group_payload(values, with_id=True))
    except InputRefused as exc:
        errors = errors_by_field(exc, language_of(request, session), FIELDS)
        return _form_page(request, session, sites, values=values, errors=errors)
    return _done_redirect("added", group.name)


@router.get(PATH + "/{group_id}/edit")
def edit_group(request: Request, group_id: str) -> Response:
    """The form filled with the group's name, parent and own settings."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    sites = services_of(request).sites
    try:
        group = sites.group(group_id)
    except NotFound:
        return not_found(request, session)
    return _form_page(request, session, sites, values=group_values(group), editing=group.id)


@router.post(PATH + "/{group_id}/edit")
async def save_group(request: Request, group_id: str) -> Response:
    """Rename, move and set the per-category settings, all at once or not at all."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    sites = services_of(request).sites
    values = {**group_values_from_form(form), "id": group_id}
    try:
        group = sites.update_group(group_id, group_payload(values, with_id=False))
    except NotFound:
        return not_found(request, session)
    except InputRefused as exc:
        errors = errors_by_field(exc, language_of(request, session), FIELDS)
        return _form_page(request, session, sites, values=values, editing=group_id, errors=errors)
    return _done_redirect("saved", group.name)


@router.post(PATH + "/{group_id}/remove")
async def remove_group(request: Request, group_id: str) -> Response:
    """Remove a group; the service refuses while it has subgroups or users, and says so."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    sites = services_of(request).sites
    try:
        name = sites.group(group_id).name
        sites.remove_group(group_id)
    except NotFound:
        return not_found(request, session)
    except InputRefused as exc:
        language = language_of(request, session)
        return _list_page(request, session, sites, refusal=[i.text(language) for i in exc.issues])
    return _done_redirect("removed", name)


def _saved_name(sites: SitesService, group_id: str) -> str:
    """The stored name of the group being edited (the title keeps it while the form is wrong)."""
    found = sites.view().tree.groups.get(group_id)
    return found.name if found is not None else group_id
