"""The users pages: the list, add, edit, disable / enable and remove (through the sites service)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from tocsin.http import services_of
from tocsin.i18n import translate
from tocsin.model import Category, Session, User
from tocsin.quiet import DAY_NAMES
from tocsin.routing import GroupTree, covered_groups
from tocsin.services.inputs import InputRefused
from tocsin.services.site_input import user_advice
from tocsin.services.site_zone import known_zones
from tocsin.services.sites import NotFound, SitesService
from tocsin.services.test_alarm import TEST_ALARM_REFUSALS
from tocsin.web.form_pages import EditForm, Values, admin_form, done_of
from tocsin.web.forms import Form
from tocsin.web.guard import not_found
from tocsin.web.quiet_form import quiet_label, window_label
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.site_form import CATEGORIES, user_payload, user_values, user_values_from_form
from tocsin.web.texts import translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH: Final = "/users"
FIELDS: Final = (
    "id",
    "name",
    "email",
    "language",
    "time_zone",
    "enabled",
    "groups",
    "categories",
    "quiet_hours",
)


def _user_row(user: User, tree: GroupTree, language: str, now: datetime) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "advice": [i.text(language) for i in user_advice(user)],
        "language": str(user.language),
        "time_zone": user.time_zone,
        "enabled": user.enabled,
        # The groups that cover the rest (a listed subgroup of a listed group adds
        # nothing), each with how many subgroups it covers: routing emails those too.
        "groups": sorted(
            (" / ".join(tree.path(g)), len(tree.subtree(g)) - 1)
            for g in user.group_ids - covered_groups(tree, user.group_ids).keys()
            if g in tree
        ),
        "categories": [(c.value, user.wants_email(c)) for c in Category],
        "quiet": [window_label(w, translator(language)) for w in user.quiet_hours],
        "quiet_until": quiet_label(user, now),
    }


@router.get(PATH)
def users(request: Request) -> Response:
    """Every user: address, groups, the categories they get email for, and actions."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    return _list_page(request, session)


def _list_page(request: Request, session: Session) -> Response:
    sites = services_of(request).sites
    tree = sites.view().tree
    language = language_of(request, session)
    now = datetime.now(UTC)
    query = request.query_params
    code = query.get("refused", "")
    refusal = ""
    if code in TEST_ALARM_REFUSALS:  # back from a refused test alarm (post, redirect, get)
        refusal = translate(code, language, name=query.get("name", "")[:200],
                            group=query.get("group", "")[:200])  # fmt: skip
    return render(
        request,
        "users.html",
        language=language,
        session=session,
        active="users",
        users=[_user_row(u, tree, language, now) for u in sites.users()],
        done=done_of(request),
        tested=query.get("tested", "")[:200] if not refusal else "",
        refusal=refusal,
    )


@router.post(PATH + "/{user_id}/test-alarm")
async def test_alarm(request: Request, user_id: str) -> Response:
    """Send the user a test alarm through the real routing and outbox."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    try:
        sent = services_of(request).events.send_test_alarm(user_id)
    except NotFound:
        return not_found(request, session)
    except InputRefused as exc:
        found = exc.issues[0]
        back = {"refused": found.code, **found.params}
        return redirect(f"{PATH}?{urlencode(back)}")
    user = services_of(request).sites.user(sent.user_id)
    return redirect(f"{PATH}?{urlencode({'tested': user.name or user.id})}")


def _choices(sites: SitesService, values: Values, editing: str) -> dict[str, Any]:
    """What the form offers: the group tree (a box each), the categories, the time zones.

    A group under a ticked one is shown ticked and locked, "included through" that
    ancestor: routing sends it the ancestor's users anyway (:func:`covered_groups`).
    """
    tree = sites.view().tree
    covered = covered_groups(tree, values["groups"])
    groups = [
        {
            "id": g.id,
            "name": g.name,
            "parent": g.parent_id or "",
            "path": " / ".join(tree.path(g.id)),
            "depth": len(tree.lineage(g.id)) - 1,
            "own": g.id in values["groups"],
            "through": tree.group(covered[g.id]).name if g.id in covered else "",
        }
        for g in sites.groups()
    ]
    return {
        "groups": groups,
        "days": DAY_NAMES,
        "categories": CATEGORIES,
        "zones": known_zones(),
        "site_zone": sites.site_zone,
    }


def _name(user: User) -> str:
    return user.name or user.id


FORM: Final = EditForm(
    path=PATH,
    template="user_form.html",
    fields=FIELDS,
    # Every category off; the time zone the site's (the server's local zone).
    blank=lambda request: user_values(None, zone=services_of(request).sites.site_zone),
    stored=lambda sites, user_id: user_values(sites.user(user_id)),
    read=user_values_from_form,
    add=lambda sites, values: _name(sites.add_user(user_payload(values, with_id=True))),
    update=lambda sites, user_id, values: _name(
        sites.update_user(user_id, user_payload(values, with_id=False))
    ),
    choices=_choices,
)
FORM.add_routes(router)  # /users/new, /users/{id}/edit


@router.post(PATH + "/{user_id}/enabled")
async def set_enabled(request: Request, user_id: str) -> Response:
    """Disable or enable a user (``enabled`` = ``on`` / ``off``)."""

    def switch(sites: SitesService, form: Form) -> tuple[str, str]:
        enabled = form.get("enabled") == "on"
        user = sites.update_user(user_id, {"enabled": enabled})
        return "enabled" if enabled else "disabled", _name(user)

    return await FORM.act(request, switch)


@router.post(PATH + "/{user_id}/remove")
async def remove_user(request: Request, user_id: str) -> Response:
    """Remove a user (confirmed in the page's "Remove…" block)."""

    def remove(sites: SitesService, _: Form) -> tuple[str, str]:
        name = sites.user(user_id).name or user_id
        sites.remove_user(user_id)
        return "removed", name

    return await FORM.act(request, remove)
