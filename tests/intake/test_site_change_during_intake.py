"""An event checked against one site version and stored under the next one is emailed
as the stored site says (the emails rendered ahead for the old site are not used)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from intake_support import Clock, event, queued, set_up_site

from tocsin.services.context import Services
from tocsin.services.events import EventsService


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

    events = EventsService(
        services.store,
        sites=services.sites,
        settings=services.settings,
        outbox=services.outbox,
        clock=clock,
        admission=rename_first,
    )
    accepted = events.submit(event())
    assert renamed
    assert accepted[0].notified
    subjects = [str(message["Subject"]) for _, message in queued(services)]
    assert subjects
    assert all("Serverraum" in s and "Server room" not in s for s in subjects)
