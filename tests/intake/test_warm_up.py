"""The sample emails ``tocsin serve`` renders before it listens (``EventsService.warm_up``).

The first alarm after a start used to pay for loading and compiling the templates
(15-45 ms more than the next one); the warm-up does that at start, storing and sending
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from intake_support import event, set_up_site, stored_counts

from tocsin.services.context import Services
from tocsin.services.inputs import decode_json


def _compiled(services: Services) -> set[str]:
    """The email templates compiled so far (Jinja2's cache of the chain's environment)."""
    renderer = services.events.renderer()
    assert renderer is not None
    chain = renderer._templates._pair()[1]
    return {name for _, name in chain.cache} if chain.cache is not None else set()


def test_one_sample_per_language_and_time_zone_nothing_stored(services: Services) -> None:
    # Alice (de, Berlin), Bob and Carol (en, UTC); Dave is disabled.
    assert services.events.warm_up() == 2
    assert stored_counts(services) == (0, 0, 0)
    assert {"alarm.html", "alarm.txt", "_layout.html", "_layout.txt"} <= _compiled(services)


def test_the_first_alarm_after_it_compiles_nothing(services: Services) -> None:
    services.events.warm_up()
    before = _compiled(services)
    services.events.submit(decode_json(json.dumps(event()).encode()))
    assert _compiled(services) == before
    assert stored_counts(services)[0] == 1


def test_bounded_by_most(services: Services) -> None:
    assert services.events.warm_up(most=1) == 1


def test_nothing_without_a_sender(tmp_path: Path) -> None:
    opened = Services.open(tmp_path / "data")
    try:
        set_up_site(opened, sender=None)
        assert opened.events.warm_up() == 0
        assert stored_counts(opened) == (0, 0, 0)
    finally:
        opened.close()


def test_without_warm_up_the_first_alarm_compiles_the_templates(services: Services) -> None:
    # What the warm-up saves: the templates are compiled by the first real alarm.
    services.events.submit(decode_json(json.dumps(event()).encode()))
    assert {"alarm.html", "alarm.txt"} <= _compiled(services)
