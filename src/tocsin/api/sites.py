"""REST: alarm groups, users and the whole site (admins only).

The JSON form of a group or user is the one of the site file (see
:mod:`tocsin.services.site_input`).  ``PATCH`` changes the fields given (a group's
``policies`` merge per category; ``"inherit"`` or null drops an override).
Refusals use the intake's shape: 422 field-named issues, 409 for an id that is taken
or a group still in use, 404 for an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from tocsin.api.auth import Principal, require_admin
from tocsin.api.events import refused_response
from tocsin.api.json_route import StrictJSONRoute
from tocsin.http import services_of
from tocsin.model import User
from tocsin.quiet import quiet_until
from tocsin.services.inputs import InputRefused
from tocsin.services.site_input import user_advice, user_to_dict
from tocsin.services.sites import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["site"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, require_admin]
Fields = Annotated[dict[str, Any], Body(description="the fields, as in GET")]


def _answer(principal: Principal, work: Callable[[], Any], status: int = 200) -> Response:
    try:
        result = work()
    except NotFound as exc:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)
    except InputRefused as exc:
        return refused_response(exc, principal.language)
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(result, status_code=status)


def _with_advice(user: User, principal: Principal) -> dict[str, Any]:
    """The saved user, and the advice on it (a warning is saved, but shown)."""
    advice = [i.as_dict(principal.language) for i in user_advice(user)]
    return _user_json(user) | {"advice": advice}


def _user_json(user: User) -> dict[str, Any]:
    """The user's dictionary form and, read only, when the quiet hours they are in now
    end (``quiet_until``, UTC ISO 8601; null when they are not quiet)."""
    until = quiet_until(user.quiet_hours, user.time_zone, datetime.now(UTC))
    iso = None if until is None else until.isoformat().replace("+00:00", "Z")
    return user_to_dict(user) | {"quiet_until": iso}


# ---------------------------------------------------------------------- groups
@router.get("/groups")
def list_groups(request: Request, principal: Admin) -> dict[str, Any]:
    """Every alarm group, parents first, with its path and effective settings."""
    sites = services_of(request).sites
    view = sites.view()
    return {"groups": [sites.group_dict(g, view=view) for g in sites.groups()]}


@router.post("/groups", status_code=201)
def create_group(request: Request, principal: Admin, body: Fields) -> Response:
    """Create a group: ``id``, ``name``, optional ``parent`` and ``policies``."""
    sites = services_of(request).sites
    return _answer(principal, lambda: sites.group_dict(sites.add_group(body)), 201)


@router.get("/groups/{group_id}")
def read_group(request: Request, principal: Admin, group_id: str) -> Response:
    """One group."""
    sites = services_of(request).sites
    return _answer(principal, lambda: sites.group_dict(sites.group(group_id)))


@router.patch("/groups/{group_id}")
def change_group(request: Request, principal: Admin, group_id: str, body: Fields) -> Response:
    """Change some fields of a group."""
    sites = services_of(request).sites
    return _answer(principal, lambda: sites.group_dict(sites.update_group(group_id, body)))


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(request: Request, principal: Admin, group_id: str) -> Response:
    """Delete a group without subgroups or users."""
    sites = services_of(request).sites
    return _answer(principal, lambda: sites.remove_group(group_id), 204)


# ---------------------------------------------------------------------- users
@router.get("/users")
def list_users(request: Request, principal: Admin) -> dict[str, Any]:
    """Every user."""
    return {"users": [_user_json(u) for u in services_of(request).sites.users()]}


@router.post("/users", status_code=201)
def create_user(request: Request, principal: Admin, body: Fields) -> Response:
    """Create a user: ``id``, ``name``, ``email``; optional ``language``, ``time_zone``,
    ``enabled``, ``groups``, ``categories`` (email is off for every category until chosen),
    ``quiet_hours`` (``[{"days": ["mon"], "start": "22:00", "end": "07:00"}]``)."""
    sites = services_of(request).sites
    return _answer(principal, lambda: _with_advice(sites.add_user(body), principal), 201)


@router.get("/users/{user_id}")
def read_user(request: Request, principal: Admin, user_id: str) -> Response:
    """One user."""
    sites = services_of(request).sites
    return _answer(principal, lambda: _user_json(sites.user(user_id)))


@router.patch("/users/{user_id}")
def change_user(request: Request, principal: Admin, user_id: str, body: Fields) -> Response:
    """Change some fields of a user (a list replaces the list)."""
    sites = services_of(request).sites
    return _answer(principal, lambda: _with_advice(sites.update_user(user_id, body), principal))


@router.delete("/users/{user_id}", status_code=204)
def delete_user(request: Request, principal: Admin, user_id: str) -> Response:
    """Delete a user."""
    sites = services_of(request).sites
    return _answer(principal, lambda: sites.remove_user(user_id), 204)


@router.post("/users/{user_id}/test-alarm", status_code=202)
def send_test_alarm(request: Request, principal: Admin, user_id: str) -> Response:
    """Queue a test alarm to one user: the real alarm email in their language, routed
    and delivered like any alarm (listed in the delivery log). 422 says why routing
    would not reach them."""
    events = services_of(request).events
    return _answer(principal, lambda: events.send_test_alarm(user_id).as_dict(), 202)


# ---------------------------------------------------------------------- the whole site
@router.get("/site")
def export_site(request: Request, principal: Admin) -> dict[str, Any]:
    """The whole site (groups and users), as a site file holds it."""
    return services_of(request).sites.export_site()


@router.put("/site")
def import_site(
    request: Request,
    principal: Admin,
    body: Fields,
    replace: Annotated[bool, Query(description="remove what the body does not list")] = True,
    dry_run: Annotated[bool, Query(description="only report what would change")] = False,
) -> Response:
    """Set up the whole site at once; checked completely before anything is written."""
    sites = services_of(request).sites
    return _answer(
        principal, lambda: sites.import_site(body, replace=replace, dry_run=dry_run).as_dict()
    )
