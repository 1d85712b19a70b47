"""Pages with a form: who may post one (:func:`admin_form`), and the add / edit cycle of
the users and alarm-groups pages (:class:`EditForm`).

The cycle: show the form; on a post, let the sites service check what was typed; show
the form again with each refusal next to its field (nothing saved), or go back to the
list with a confirmation (``?done=added&name=…``).  What differs between users and
groups (template, values, the service's calls) is an :class:`EditForm`; the rules are
the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response, status

from tocsin.http import services_of
from tocsin.model import Session
from tocsin.services.inputs import InputRefused
from tocsin.services.sites import NotFound, SitesService
from tocsin.web.forms import Form, checked_form
from tocsin.web.guard import DONE_KEYS, not_found
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.site_form import errors_by_field

__all__ = ["EditForm", "Refusal", "Values", "admin_form", "done_of"]

Values = dict[str, Any]
"""What a form shows, in the shape of :func:`tocsin.web.site_form.user_values` (or groups')."""
Refusal = Callable[[Request, Session, SitesService, InputRefused], Response]
"""The page for an action the service refused (e.g. removing a group still in use)."""


async def admin_form(request: Request) -> tuple[Session, Form] | Response:
    """The admin's session and the posted form, or the response that refuses the request."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    form = await checked_form(request, session)
    return form if isinstance(form, Response) else (session, form)


def done_of(request: Request) -> tuple[str, str]:
    """The change a list page confirms, from ``?done=&name=``: (what, whose name) or blanks."""
    done = request.query_params.get("done", "")
    return (done, request.query_params.get("name", "")[:200]) if done in DONE_KEYS else ("", "")


@dataclass(frozen=True, kw_only=True, slots=True)
class EditForm:
    """The add and edit form of one kind of site object, at ``<path>/new`` and
    ``<path>/<id>/edit`` (:meth:`add_routes`); the list is at ``path``.

    The callables are the kind's own: its values (``blank`` for a new one, possibly
    preselected from the request; ``stored``, raising :class:`NotFound`; ``read`` from
    the form), the service's ``add`` and ``update`` (raising :class:`InputRefused`,
    returning the name to confirm), and the template's other values (``choices``).
    """

    path: str
    template: str
    fields: tuple[str, ...]  # the fields that show their own errors; others: the summary
    blank: Callable[[Request], Values]
    stored: Callable[[SitesService, str], Values]
    read: Callable[[Form], Values]
    add: Callable[[SitesService, Values], str]
    update: Callable[[SitesService, str, Values], str]
    choices: Callable[[SitesService, Values, str], dict[str, Any]]  # (…, values, id edited)

    def add_routes(self, router: APIRouter) -> None:
        """GET and POST ``<path>/new`` and ``<path>/{item_id}/edit``."""

        def new(request: Request) -> Response:
            return self.show(request)

        async def create(request: Request) -> Response:
            return await self.submit(request)

        def edit(request: Request, item_id: str) -> Response:
            return self.show(request, editing=item_id)

        async def save(request: Request, item_id: str) -> Response:
            return await self.submit(request, editing=item_id)

        router.add_api_route(self.path + "/new", new, methods=["GET"])
        router.add_api_route(self.path + "/new", create, methods=["POST"])
        router.add_api_route(self.path + "/{item_id}/edit", edit, methods=["GET"])
        router.add_api_route(self.path + "/{item_id}/edit", save, methods=["POST"])

    def done(self, done: str, name: str) -> Response:
        """Back to the list, which confirms ``done`` (a :data:`DONE_KEYS` key) for ``name``."""
        return redirect(f"{self.path}?{urlencode({'done': done, 'name': name})}")

    def page(
        self,
        request: Request,
        session: Session,
        sites: SitesService,
        *,
        values: Values,
        editing: str = "",
        errors: dict[str, list[str]] | None = None,
    ) -> Response:
        """The form showing ``values`` (``editing``: the id of the one edited; ``errors``:
        per field, answered 422)."""
        return render(
            request,
            self.template,
            language=language_of(request, session),
            session=session,
            active=self.path.strip("/"),  # the menu's ids are its paths
            values=values,
            editing=editing,
            saved_name=self._saved_name(sites, editing),
            action=f"{self.path}/{quote(editing, safe='')}/edit" if editing else f"{self.path}/new",
            errors=errors or {},
            http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
            **self.choices(sites, values, editing),
        )

    def _saved_name(self, sites: SitesService, editing: str) -> str:
        """The stored name of the one edited: the title keeps it while the form is wrong."""
        if not editing:
            return ""
        try:
            return str(self.stored(sites, editing)["name"]) or editing
        except NotFound:
            return editing

    def show(self, request: Request, *, editing: str = "") -> Response:
        """The empty form, or (``editing``) the stored one's; not found when it is not."""
        session = current_session(request)
        if session is None:
            return to_login(request)
        sites = services_of(request).sites
        try:
            values = self.stored(sites, editing) if editing else self.blank(request)
        except NotFound:
            return not_found(request, session)
        return self.page(request, session, sites, values=values, editing=editing)

    async def submit(self, request: Request, *, editing: str = "") -> Response:
        """Add (or, ``editing``, save) what was posted, all or nothing; on a refusal the
        form again, with the service's reasons per field."""
        checked = await admin_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        sites = services_of(request).sites
        values = {**self.read(form), "id": editing} if editing else self.read(form)
        try:
            name = self.update(sites, editing, values) if editing else self.add(sites, values)
        except NotFound:
            return not_found(request, session)
        except InputRefused as exc:
            errors = errors_by_field(exc, language_of(request, session), self.fields)
            return self.page(request, session, sites, values=values, editing=editing, errors=errors)
        return self.done("saved" if editing else "added", name)

    async def act(
        self,
        request: Request,
        action: Callable[[SitesService, Form], tuple[str, str]],
        *,
        refusal: Refusal | None = None,
    ) -> Response:
        """A button of the list (disable, remove): ``action`` returns what it did and to
        whom; a refusal goes to ``refusal`` (without one it is an error)."""
        checked = await admin_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        sites = services_of(request).sites
        try:
            done, name = action(sites, form)
        except NotFound:
            return not_found(request, session)
        except InputRefused as exc:
            if refusal is None:
                raise
            return refusal(request, session, sites, exc)
        return self.done(done, name)
