"""``tocsin event ...``: raise or clear an event by hand, list recent events, delete old ones.

Registered by :mod:`tocsin.cli.commands`.  Exit status 0 on success, 2 for refused
input, 1 when the store cannot be opened.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from tocsin.cli.support import DataOption, JsonOption, err, fail, out, run
from tocsin.model import Category, Severity, State

if TYPE_CHECKING:
    from tocsin.services import retention
    from tocsin.services.acknowledge import AckOutcome
    from tocsin.services.context import Services

__all__ = ["CATEGORIES", "CategoryOption", "event_app"]

event_app = typer.Typer(
    help="Raise or clear an event by hand; list recent events; delete old ones.",
    no_args_is_help=True,
)


CategoryOption = Annotated[Category, typer.Option("--category", help="The alarm category.")]
CATEGORIES = ", ".join(c.value for c in Category)
Group = Annotated[str, typer.Option(help="The alarm group's id.")]
Device = Annotated[str, typer.Option(help="The device, e.g. 'Smoke detector 2'.")]
Sensor = Annotated[str, typer.Option(help="The sensor, e.g. smoke.")]
Text = Annotated[str | None, typer.Option(help="Free text for the email.")]
ClientId = Annotated[str | None, typer.Option(help="Your id, for safe retries.")]


def _submit(
    data: Path | None,
    where: tuple[str, str, str, Category],
    text: str | None,
    client_id: str | None,
    **fields: object,
) -> None:
    """Submit one event of ``where`` (group, device, sensor, category) with ``fields``."""
    group, device, name, category = where
    event: dict[str, object] = {
        "group": group,
        "device": device,
        "sensor": name,
        "category": category.value,
        **fields,
        "text": text,
        "client_event_id": client_id,
    }
    given = {k: v for k, v in event.items() if v is not None}
    (accepted,), sender = run(
        data, lambda s: (s.events.submit(given), s.settings.load().sender_address)
    )
    if accepted.duplicate:
        out.print(f"Already accepted as {accepted.id} (same --client-id): nothing new.")
        return
    out.print(
        f"[green]✓ Event {accepted.id} accepted[/]: {accepted.notified} emails queued", end=""
    )
    out.print(f", {accepted.held} held back for a summary." if accepted.held else ".")
    if event.get("state") == State.CLEARED.value and accepted.clears is None:
        out.print("  No open raise of this sensor was found, so nobody was told of it.")
    if accepted.held and not sender:
        out.print(
            "  No sender address is set up, so emails wait for it "
            "(tocsin settings set sender_address=...); then a summary goes out."
        )
    if accepted.notified:
        out.print("  The outbox sends them while 'tocsin serve' (or 'tocsin worker') runs.")


@event_app.command("raise")
def event_raise(
    group: Group,
    device: Device,
    sensor: Sensor,
    category: CategoryOption,
    severity: Annotated[Severity, typer.Option(help="alarm or warning.")],
    value: Annotated[float | None, typer.Option(help="The measured value.")] = None,
    unit: Annotated[str | None, typer.Option(help="The unit, e.g. °C.")] = None,
    threshold: Annotated[float | None, typer.Option(help="The limit it crossed.")] = None,
    text: Text = None,
    client_id: ClientId = None,
    data: DataOption = None,
) -> None:
    """Raise an event: stored, routed, and its emails queued, as if a device posted it."""
    where = (group, device, sensor, category)
    measured = {"value": value, "unit": unit, "threshold": threshold}
    _submit(data, where, text, client_id, severity=severity.value, **measured)


@event_app.command("clear")
def event_clear(
    group: Group,
    device: Device,
    sensor: Sensor,
    category: CategoryOption,
    clears: Annotated[
        str | None, typer.Option(help="The id of the raise (default: the open one).")
    ] = None,
    text: Text = None,
    client_id: ClientId = None,
    data: DataOption = None,
) -> None:
    """Clear a raised event: the "cleared" email goes to those told of the raise."""
    where = (group, device, sensor, category)
    _submit(data, where, text, client_id, state=State.CLEARED.value, clears=clears)


@event_app.command("ack")
def event_ack(
    event_id: Annotated[
        str, typer.Argument(help="The alarm's event id (see 'tocsin event list').")
    ],
    by: Annotated[
        str | None, typer.Option(help="Who acknowledges (default: your login name).")
    ] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an open alarm: the others who were emailed get one short note."""
    from tocsin.ack.model import AckVia
    from tocsin.services.acknowledge import AckRefused
    from tocsin.services.events import ack_to_dict

    name = by if by is not None else _login_name()
    if not name.strip():
        fail("--by: give a name.")

    def work(s: Services) -> AckOutcome | str:
        try:
            return s.acks.acknowledge(event_id, by=name, via=AckVia.CLI)
        except AckRefused as exc:
            return exc.code

    outcome = run(data, work)
    if isinstance(outcome, str):
        fail(
            "Only a raised alarm can be acknowledged (not a warning, a clear or a notice)."
            if outcome == "not_alarm"
            else "This alarm was cleared already: there is nothing to acknowledge."
        )
    if as_json:
        answer = (ack_to_dict(outcome.ack) or {}) | {"event": event_id, "new": outcome.new}
        out.print_json(json.dumps(answer | {"notices": outcome.notices}))
        return
    ack = outcome.ack
    if not outcome.new:
        out.print(f"Already acknowledged by {escape(ack.by)} (via {ack.via.value}): nothing sent.")
        return
    out.print(
        f"[green]✓ Event {escape(event_id)} acknowledged by {escape(ack.by)}[/]; "
        f"{outcome.notices} notes to the others queued."
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


@event_app.command("list")
def event_list(
    limit: Annotated[int, typer.Option(help="How many.", min=1, max=500)] = 20,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show recent events, newest first, with who was emailed."""
    from tocsin.services.events import event_to_dict

    records = [event_to_dict(r) for r in run(data, lambda s: s.events.recent(limit=limit))]
    if as_json:
        out.print_json(json.dumps(records))
        return
    for e in records:
        sent = [n["user"] for n in e["notifications"] if n["status"] == "sent"]
        held = [n["user"] for n in e["notifications"] if n["status"] != "sent"]
        out.print(
            f"{e['received_at'][:19]}  {e['id']}  {e['state']:<7} {e['severity']:<7} "
            f"{e['category']:<8} {e['group']} / {e['device']}: {e['sensor']}",
            markup=False,
        )
        out.print(
            f"    emailed: {', '.join(sent) or '-'}; other: {', '.join(held) or '-'}", markup=False
        )


@event_app.command("purge")
def event_purge(
    older_than_days: Annotated[
        str | None,
        typer.Option(
            metavar="DAYS", help="Received more than DAYS days ago (default: the retention)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete old events with their notifications; 'tocsin serve' does it hourly.

    Active alarms, and events an email or summary still waiting needs, stay.
    """
    from rich.progress import Progress

    from tocsin.services import retention

    def work(s: Services) -> retention.PurgeReport:
        if older_than_days is None:
            days = retention.retention_status(s.store).days
        else:
            days = retention.check_days(older_than_days, field="older_than_days")
        total = 0 if as_json else retention.count_old(s.store, older_than_days=days)
        with Progress(console=err, transient=True, disable=total <= retention.BATCH_SIZE) as bar:
            task = bar.add_task("Looking at old events", total=total)
            return retention.purge_events(
                s.store,
                older_than_days=days,
                dry_run=dry_run,
                on_batch=lambda r: bar.update(task, completed=r.examined),
            )

    report = run(data, work)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    verb = "would be deleted" if dry_run else "deleted"
    out.print(
        f"[green]✓[/] {report.events} events and {report.notifications} notifications "
        f"received more than {report.older_than_days} days ago {verb}."
    )
    if report.kept:
        out.print(f"  {report.kept} older events stay: still active, or an email needs them.")


@event_app.command("retention")
def event_retention(
    days: Annotated[
        str | None, typer.Option(metavar="DAYS", help="Keep events DAYS days (1 to 3650).")
    ] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show how long events are kept, or set it with --days."""
    from tocsin.services import retention

    def work(s: Services) -> retention.RetentionStatus:
        if days is not None:
            retention.set_retention_days(s.store, days)
        return retention.retention_status(s.store)

    status = run(data, work)
    if as_json:
        out.print_json(json.dumps(status.as_dict()))
        return
    default = " (the default)" if status.is_default else ""
    verb = "are now kept" if days is not None else "are kept"
    out.print(f"Events {verb} for {status.days} days{default}.", markup=False)
    if status.last_run is None:
        out.print("  Older ones go about once an hour while 'tocsin serve' runs; none went yet.")
    else:
        out.print(
            "  Older ones go about once an hour while 'tocsin serve' runs; last at "
            f"{retention.iso(status.last_run)}: {status.last_events} events, "
            f"{status.last_deliveries} finished deliveries deleted."
        )
    if status.last_error:
        out.print(f"  [yellow]! The last attempt failed:[/] {escape(status.last_error)}")
