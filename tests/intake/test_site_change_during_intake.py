"""An event checked against one site version and stored under the next one is emailed
as the stored site says (the emails rendered ahead for the old site are not used)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import pytest
from intake_support import Clock, event, queued, set_up_site

from tocsin.model import Event
from tocsin.routing import Decision
from tocsin.services.context import Services
from tocsin.services.events import EventsService


def _events(
    services: Services,
    clock: Clock,
    admission: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> EventsService:
    """An events service on ``services`` whose ``admission`` runs after each request
    was checked against the site and before it is planned."""
    return EventsService(
        services.store,
        sites=services.sites,
        settings=services.settings,
        outbox=services.outbox,
        clock=clock,
        admission=admission,
    )


def test_a_site_change_between_check_and_commit_renders_again(
    services: Services, clock: Clock
) -> None:
    set_up_site(services)
    renamed: list[str] = []

    @contextmanager
    def rename_first() -> Iterator[None]:
        # Runs after the request was checked against the site, before it is planned.
        if not renamed:
            services.sites.update_group("server-room", {"name": "Serverraum"})
            renamed.append("server-room")
        yield

    events = _events(services, clock, admission=rename_first)
    accepted = events.submit(event())
    assert renamed
    assert accepted[0].notified
    subjects = [str(message["Subject"]) for _, message in queued(services)]
    assert subjects
    assert all("Serverraum" in s and "Server room" not in s for s in subjects)


def test_a_site_change_between_check_and_commit_routes_again(
    backend: Services, clock: Clock
) -> None:
    """The plan's routing decisions are not taken for a site that changed since: Bob,
    who no longer wants fire alarms when the transaction runs, gets none."""
    changed: list[str] = []

    @contextmanager
    def bob_leaves_fire() -> Iterator[None]:
        if not changed:  # after the check against the site, before the plan
            backend.sites.update_user("bob", {"categories": ["always"]})
            changed.append("bob")
        yield

    events = _events(backend, clock, admission=bob_leaves_fire)
    accepted = events.submit({"events": [event(device=f"Smoke detector {i}") for i in range(3)]})
    assert changed
    for one in accepted:
        record = backend.events.get(one.id)
        assert record is not None
        assert {n.user_id for n in record.notifications} == {"alice"}
    assert {recipient for recipient, _ in queued(backend)} == {"alice@example.com"}


def test_a_batch_is_routed_once_when_the_site_stays_the_same(
    backend: Services, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction takes the plan's decisions (same site, same clock) instead of
    routing every event a second time with the write lock held; a capped or clearing
    event is still routed in the transaction (``test_intake_storage``)."""
    import tocsin.services.intake as intake

    routed: list[str] = []
    route = intake.route

    def counted(event: Event, **kwargs: Any) -> Decision:
        routed.append(event.id)
        return route(event, **kwargs)

    monkeypatch.setattr(intake, "route", counted)
    events = _events(backend, clock)
    accepted = events.submit({"events": [event(device=f"Smoke detector {i}") for i in range(3)]})
    assert sorted(routed) == sorted(a.id for a in accepted)
    for one in accepted:
        record = backend.events.get(one.id)
        assert record is not None
        assert {n.user_id for n in record.notifications} == {"alice", "bob"}
