"""The users and alarm groups pages (read views of the sites service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tocsin.api.auth import services_of
from tocsin.model import AlarmGroup, Category, User
from tocsin.routing import GroupTree, effective_settings
from tocsin.web.render import render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


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


@router.get("/users")
def users(request: Request) -> Response:
    """Every user: address, groups, and the categories they get email for."""
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
    )


def _policies(group: AlarmGroup, tree: GroupTree) -> list[dict[str, Any]]:
    """Per category: the settings in force, and whether set here, inherited or the default."""
    effective = effective_settings(tree, group.id)
    rows = []
    for category in Category:
        if group.settings.own(category) is not None:
            source = "own"
        else:
            source = "inherited" if group.parent_id is not None else "default"
        policy = effective[category]
        rows.append(
            {
                "category": category.value,
                "source": source,
                "email_warnings": policy.email_warnings,
                "max_per_hour": policy.max_per_hour,
            }
        )
    return rows


def _node(group: AlarmGroup, tree: GroupTree, users: list[User]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "children": list(tree.children(group.id)),
        "policies": _policies(group, tree),
        "users": sorted(u.name or u.id for u in users if group.id in u.group_ids),
    }


@router.get("/groups")
def groups(request: Request) -> Response:
    """The alarm-group tree, each group's settings marked set here or inherited."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    sites = services_of(request).sites
    view = sites.view()
    tree = view.tree
    ordered = sites.groups()
    return render(
        request,
        "groups.html",
        language=language_of(request, session),
        session=session,
        active="groups",
        nodes={g.id: _node(g, tree, list(view.users)) for g in ordered},
        roots=[g.id for g in ordered if g.parent_id is None],
    )
