"""The alarm-groups pages: the tree with each setting's origin, add, edit (rename, move,
per-category settings) and remove, through the sites service."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from tocsin.http import services_of
from tocsin.model import AlarmGroup, Category, Session, User
from tocsin.routing import GroupTree, acknowledges_warnings
from tocsin.services.inputs import InputRefused
from tocsin.services.sites import SitesService, SiteView
from tocsin.web.escalation_form import (
    escalation_payload,
    escalation_values,
    escalation_values_from_form,
)
from tocsin.web.form_pages import EditForm, Values, done_of
from tocsin.web.forms import Form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.site_form import (
    group_payload,
    group_values,
    group_values_from_form,
    policy_source,
)
from tocsin.web.texts import translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/groups"
FIELDS: Final = (
    "id",
    "name",
    "parent",
    *(f"policy_{c.value}" for c in Category),
    "escalation",
    "ack_warnings",
)


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


def _refusal(request: Request, view: SiteView, language: str) -> list[str]:
    """Why the group named by ``?refused=`` was not removed (back from a refused POST),
    by names, as the site is now."""
    group_id = request.query_params.get("refused", "")
    if group_id not in view.tree:
        return []
    t = translator(language)
    name = view.tree.group(group_id).name
    children = [view.tree.group(c).name for c in view.tree.children(group_id)]
    users = sorted(u.name or u.id for u in view.users if group_id in u.group_ids)
    texts = []
    if children:
        texts.append(t("group_refused_children", name=name, names=", ".join(children)))
    if users:
        texts.append(t("group_refused_users", name=name, names=", ".join(users)))
    return texts


def _list_page(request: Request, session: Session, sites: SitesService) -> Response:
    view = sites.view()
    ordered = sites.groups()
    refusal = _refusal(request, view, language_of(request, session))
    return render(
        request,
        "groups.html",
        language=language_of(request, session),
        session=session,
        active="groups",
        nodes={g.id: _node(g, view.tree, view.users) for g in ordered},
        roots=[g.id for g in ordered if g.parent_id is None],
        done=done_of(request),
        refusal=refusal,
    )


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


def _choices(sites: SitesService, values: Values, editing: str) -> dict[str, Any]:
    """What the form offers: the parents (not the group itself nor its subgroups) and,
    per category, what "inherit" gives under the parent chosen."""
    tree = sites.view().tree
    excluded = tree.subtree(editing) if editing in tree else frozenset()
    parents = [(g.id, " / ".join(tree.path(g.id))) for g in sites.groups() if g.id not in excluded]
    parent = values["parent"] if values["parent"] in tree else ""
    return {
        "parents": parents,
        "previews": _inherit_previews(tree, parent),
        "categories": [c.value for c in Category],
        "escalation_users": [(u.id, u.name or u.id) for u in sites.view().users],
        "escalation_from": _escalation_from(sites, editing, parent),
        # What "as the parent group" gives for acknowledging warnings (the root: no).
        "ack_from": bool(parent) and acknowledges_warnings(tree, parent),
    }


def _escalation_from(sites: SitesService, editing: str, parent: str) -> str:
    """The name of the group whose escalation policy "inherit" gives ("" for none)."""
    if not parent:
        return ""
    found = sites.group_dict(sites.group(parent))["effective_escalation"]
    return "" if found is None else sites.group(found["from"]).name


def _blank(request: Request) -> Values:
    # ?parent= preselects the parent; every category inherits, and so does escalation.
    values = group_values(None, parent=request.query_params.get("parent", ""))
    return {**values, "escalation": escalation_values(None)}


def _stored(sites: SitesService, group_id: str) -> Values:
    group = sites.group(group_id)
    own = sites.group_dict(group)["escalation"]
    return {**group_values(group), "escalation": escalation_values(own)}


def _read(form: Form) -> Values:
    escalation = escalation_values_from_form(form, form.every("esc_categories"))
    return {**group_values_from_form(form), "escalation": escalation}


def _payload(values: Values, *, with_id: bool) -> dict[str, object]:
    payload = group_payload(values, with_id=with_id)
    payload["escalation"] = escalation_payload(values["escalation"])
    return payload


FORM: Final = EditForm(
    path=PATH,
    template="group_form.html",
    fields=FIELDS,
    blank=_blank,
    stored=_stored,
    read=_read,
    add=lambda sites, values: sites.add_group(_payload(values, with_id=True)).name,
    update=lambda sites, group_id, values: (
        sites.update_group(group_id, _payload(values, with_id=False)).name
    ),
    choices=_choices,
)
FORM.add_routes(router)  # /groups/new, /groups/{id}/edit: rename, move, per-category settings


def _refused(
    request: Request, session: Session, sites: SitesService, exc: InputRefused
) -> Response:
    """Back to the list (by redirect: a reload never posts again), which says why the
    group stays (its subgroups or users)."""
    group_id = request.path_params.get("group_id", "")
    return redirect(f"{PATH}?{urlencode({'refused': group_id})}")


@router.post(PATH + "/{group_id}/remove")
async def remove_group(request: Request, group_id: str) -> Response:
    """Remove a group; the service refuses while it has subgroups or users, and says so."""

    def remove(sites: SitesService, _: Form) -> tuple[str, str]:
        name = sites.group(group_id).name
        sites.remove_group(group_id)
        return "removed", name

    return await FORM.act(request, remove, refusal=_refused)
