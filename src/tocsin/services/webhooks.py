"""Use cases of the webhook ways in: Alertmanager and Grafana alerts become events.

:class:`WebhookService` takes a
checked payload's alerts, maps each to an event, threads a resolved alert with the
event its firing raised (found by the firing's client event id), and hands them all
to :meth:`~tocsin.services.events.EventsService.accept` in one transaction: the
answer comes after the commit, so an answered alert is on disk with its emails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tocsin.intake.alerts import AlertStatus, ForeignAlert, to_event
from tocsin.intake.mapping import IntakeMapping, mapping_to_dict
from tocsin.model import State
from tocsin.routing import GroupTree
from tocsin.services.event_input import EventInput
from tocsin.services.events import EventsService
from tocsin.services.inputs import InputRefused
from tocsin.services.intake import Accepted
from tocsin.services.intake_mapping import IntakeMappingService
from tocsin.services.sites import SitesService
from tocsin.store import AnyStore, EventSQL, SiteSQL
from tocsin.validation import Issue

__all__ = ["WebhookResult", "WebhookService", "mapping_answer"]

log = logging.getLogger("tocsin.intake")


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """One alert's outcome: what the intake said, and the group it went to."""

    accepted: Accepted
    group: str
    fallback: bool

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form: the intake's answer plus ``group`` and ``group_fallback``."""
        return {**self.accepted.as_dict(), "group": self.group, "group_fallback": self.fallback}


class WebhookService:
    """Alerts in, events out (see the module docstring)."""

    def __init__(
        self,
        store: AnyStore,
        *,
        events: EventsService,
        sites: SitesService,
        mapping: IntakeMappingService,
    ) -> None:
        self._store = store
        self._events = events
        self._sites = sites
        self.mapping = mapping

    def accept(
        self, parse: Callable[[object], Sequence[ForeignAlert]], payload: object
    ) -> list[WebhookResult]:
        """Check ``payload`` with ``parse`` and accept its alerts, all or none.

        Raises :class:`InputRefused` naming each bad field (``alerts[1].startsAt``) or
        an alert no group can take; :class:`~tocsin.errors.StorageFull` on a full disk.
        """
        alerts = parse(payload)
        mapping = self.mapping.load()
        # One read for the site and the raises resolved alerts end: each read waits for
        # the intake's current commit, so a storm pays for every one.
        with self._store.site_reading() as site:
            tree = self._sites.view_in(SiteSQL(site.runner)).tree
            inputs, fallbacks = self._events_of(alerts, mapping, tree)
            inputs = _threaded(EventSQL(site.runner), alerts, inputs)
        accepted = self._events.accept(inputs, batch=True)
        for alert, event, fallback in zip(alerts, inputs, fallbacks, strict=True):
            if fallback:  # worth fixing at the sender: say which label was not understood
                log.warning(
                    "%s alert %s: its group label names no alarm group; sent to '%s'",
                    alert.source,
                    alert.fingerprint[:64],
                    event.group_id,
                )
        return [
            WebhookResult(a, i.group_id, f)
            for a, i, f in zip(accepted, inputs, fallbacks, strict=True)
        ]

    @staticmethod
    def _events_of(
        alerts: Sequence[ForeignAlert], mapping: IntakeMapping, tree: GroupTree
    ) -> tuple[list[EventInput], list[bool]]:
        """The events of ``alerts`` under ``mapping``; raises :class:`InputRefused`."""
        known = set(tree.groups)
        roots = [g.id for g in tree.groups.values() if g.parent_id is None]
        issues: list[Issue] = []
        found = [
            to_event(a, mapping, known=known, roots=roots, issues=issues, prefix=f"alerts[{i}].")
            for i, a in enumerate(alerts)
        ]
        if issues:
            raise InputRefused(issues)
        pairs = [f for f in found if f is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def _threaded(
    sql: EventSQL, alerts: Sequence[ForeignAlert], inputs: Sequence[EventInput]
) -> list[EventInput]:
    """Each resolved alert's event names the raise of its firing, when Tocsin has it."""
    firing = {
        i: a.client_event_id(AlertStatus.FIRING)
        for i, a in enumerate(alerts)
        if a.status is AlertStatus.RESOLVED
    }
    if not firing:
        return list(inputs)
    raised = sql.events_by_client_id(list(firing.values()))
    threaded = list(inputs)
    for index, client_id in firing.items():
        stored = raised.get(client_id)
        if stored is not None and stored.event.state is State.RAISED:
            threaded[index] = replace(threaded[index], clears=stored.event.id)
    return threaded


def mapping_answer(mapping: IntakeMapping) -> Mapping[str, Any]:
    """The REST / CLI answer for a mapping."""
    return {"mapping": mapping_to_dict(mapping)}
