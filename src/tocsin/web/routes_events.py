"""The events page: recent events with their notifications; simulate an event."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from tocsin.ack.model import can_acknowledge
from tocsin.http import services_of
from tocsin.model import Category, Event, Session, Severity, State
from tocsin.routing import RoutingReason, acknowledges_warnings, route
from tocsin.services.context import Services
from tocsin.services.events import EventRecord
from tocsin.services.inputs import InputRefused
from tocsin.services.intake import SYSTEM_GROUP
from tocsin.services.site_zone import known_zones, valid_zone
from tocsin.services.sites import SiteView
from tocsin.web.form_pages import admin_form
from tocsin.web.render import redirect, render
from tocsin.web.routes_auth import to_login
from tocsin.web.session import current_session, language_of
from tocsin.web.texts import has_text, translator
from tocsin.web.zones import page_zone, remember_zone, when

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PATH = "/events"
RECENT: Final = 50
FORM_FIELDS: Final = ("group", "category", "severity", "state", "device", "sensor", "text")
_OPTIONAL: Final = ("value", "unit")


def _row(
    record: EventRecord, paths: dict[str, str], view: SiteView, language: str, zone: str
) -> dict[str, Any]:
    event = record.stored.event
    value = "" if event.value is None else f"{event.value:g} {event.unit}".strip()
    names = {u.id: u.name or u.id for u in view.users}
    return {
        "id": event.id,
        "received": when(record.stored.received_at, zone),
        "group": paths.get(event.group_id, event.group_id),
        "device": event.device,
        "sensor": event.sensor,
        "category": event.category.value,
        "severity": event.severity.value,
        "state": event.state.value,
        "open": record.stored.is_open,
        "text": event.text,
        "value": value,
        "notifications": [
            (
                names.get(n.user_id, n.user_id),
                n.status,
                f"why_{n.reason}" if has_text(f"why_{n.reason}") else n.reason,
                n.outbox_id,
            )
            for n in record.notifications
        ],
        "nobody": "" if record.notifications else nobody_reason(event, view, language),
        "ack": record.ack,  # issue 13: who acknowledged, when (see _ack_cell.html)
        "ack_at": when(record.ack.at, zone) if record.ack else "",
        "ackable": record.stored.is_open
        and can_acknowledge(event, warnings=acknowledges_warnings(view.tree, event.group_id)),
        "escalation": record.escalation,  # issue 13: steps done, the next one due
        "esc_next": (
            when(record.escalation.next_due_at, zone)
            if record.escalation and record.escalation.next_due_at is not None
            else ""
        ),
    }


def nobody_reason(event: Event, view: SiteView, language: str) -> str:
    """Why no user was emailed about ``event``, as the site is now, in words."""
    t = translator(language)
    if event.group_id not in view.tree:
        why = "why_none_system" if event.group_id == SYSTEM_GROUP else "why_none_changed"
        return t("why_none", reason=t(why))
    if event.cleared:
        return t("why_none", reason=t("why_none_cleared"))
    if not view.users:
        return t("why_none", reason=t("why_none_no_users"))
    decision = route(event, tree=view.tree, users=view.users)
    if decision.send or decision.held:
        return t("why_none", reason=t("why_none_changed"))
    if event.severity is Severity.WARNING and not decision.policy.email_warnings:
        return t("why_none", reason=t("why_none_warnings_off"))
    reasons = {reason for _, reason in decision.skipped}
    if reasons <= {RoutingReason.NOT_ASSIGNED}:
        text = t("why_none", reason=t("why_none_not_assigned"))
        homeless = [u.name or u.id for u in view.users if not u.group_ids]
        return f"{text} {t('why_none_homeless', names=', '.join(homeless))}" if homeless else text
    if RoutingReason.CATEGORY_OFF in reasons:
        category = t(f"cat_{event.category.value}")
        return t("why_none", reason=t("why_none_category", category=category))
    return t("why_none", reason=t("why_none_disabled"))


def _defaults(language: str) -> dict[str, str]:
    t = translator(language)
    return {
        "group": "",
        "category": Category.ALWAYS.value,
        "severity": Severity.WARNING.value,
        "state": State.RAISED.value,
        "device": t("simulate_default_device"),
        "sensor": t("simulate_default_sensor"),
        "text": "",
        "value": "",
        "unit": "",
    }


def _page(
    request: Request,
    session: Session,
    services: Services,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response:
    language = language_of(request, session)
    view = services.sites.view()
    paths = {g: " / ".join(view.tree.path(g)) for g in view.tree.groups}
    groups = [(g.id, paths[g.id]) for g in services.sites.groups()]
    accepted = request.query_params.get("accepted", "")
    chosen = request.query_params.get("event", "")[:64]
    records = services.events.recent(limit=RECENT)
    if chosen and all(r.stored.event.id != chosen for r in records):
        found = services.events.get(chosen)  # linked from the delivery log, maybe older
        records = [found, *records] if found else records
    if values is None and accepted:  # after a simulated event: the form as it was sent
        values = _defaults(language) | {
            k: request.query_params.get(k, "")[:500] for k in (*FORM_FIELDS, *_OPTIONAL)
        }
    counts = {k: request.query_params.get(k, "0") for k in ("notified", "held")}
    zone = page_zone(request)
    return render(
        request,
        "events.html",
        language=language,
        session=session,
        active="events",
        events=[_row(r, paths, view, language, zone) for r in records],
        chosen=chosen,
        zone=zone,
        zones=known_zones(),
        site_zone=services.sites.site_zone,
        zone_refused=request.query_params.get("zone") == "refused",
        groups=groups,
        values=values or _defaults(language),
        errors=errors or {},
        accepted=accepted,
        counts={k: v if v.isdigit() else "0" for k, v in counts.items()},
        ack_refused=request.query_params.get("ack_refused", "")[:20],
        categories=[c.value for c in Category],
        severities=[s.value for s in Severity],
        states=[s.value for s in State],
        http_status=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


@router.get(PATH)
def events(request: Request) -> Response:
    """The newest events and the simulate form."""
    session = current_session(request)
    if session is None:
        return to_login(request)
    return _page(request, session, services_of(request))


def _payload(form: dict[str, str]) -> dict[str, object]:
    """The event as the intake takes it (the same JSON shape a sensor posts)."""
    payload: dict[str, object] = {name: form.get(name, "") for name in FORM_FIELDS}
    if not payload["text"]:
        del payload["text"]
    raw_value = form.get("value", "").strip()
    if raw_value:
        try:
            payload["value"] = float(raw_value.replace(",", "."))
        except ValueError:
            payload["value"] = raw_value  # the intake names the field and says why
        if form.get("unit", "").strip():
            payload["unit"] = form["unit"].strip()
    return payload


@router.post(PATH)
async def simulate(request: Request) -> Response:
    """Put a simulated event through the intake (real routing, real emails)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    services = services_of(request)
    try:
        accepted = await run_in_threadpool(services.events.submit, _payload(form))
    except InputRefused as exc:
        language = language_of(request, session)
        errors: dict[str, list[str]] = {}
        for issue in exc.issues:
            errors.setdefault(issue.field.split(".")[0], []).append(issue.text(language))
        values = {name: form.get(name, "") for name in (*FORM_FIELDS, *_OPTIONAL)}
        return _page(request, session, services, values=values, errors=errors)
    first = accepted[0]
    sent = {name: form.get(name, "") for name in (*FORM_FIELDS, *_OPTIONAL)}
    query = urlencode(
        {"accepted": first.id, "notified": first.notified, "held": first.held}
        | {k: v for k, v in sent.items() if v}
    )
    return redirect(f"{PATH}?{query}")


@router.post(PATH + "/time-zone")
async def choose_zone(request: Request) -> Response:
    """Show the pages' times in the zone the admin picked (kept in a cookie)."""
    checked = await admin_form(request)
    if isinstance(checked, Response):
        return checked
    _, form = checked
    wanted = form.get("zone", "").strip()
    if not valid_zone(wanted):
        return redirect(f"{PATH}?zone=refused#times")
    response = redirect(f"{PATH}#times")
    remember_zone(request, response, wanted)
    return response
