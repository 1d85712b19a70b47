"""``tocsin outbox list|show|retry|purge`` and ``tocsin worker`` (a face over the outbox).

Registered by :mod:`tocsin.cli.commands`; exit status 0 on success, 1 when something
asked for does not exist, 2 for refused input.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tocsin.cli.support import (
    DatabaseOption,
    DataOption,
    JsonOption,
    LogFormatOption,
    LogLevelOption,
    err,
    open_services,
    out,
    start_logging,
)
from tocsin.deploy.logs import LogFormat
from tocsin.errors import ConfigurationProblem
from tocsin.outbox import DeliveryAttempt, DeliveryView, Status
from tocsin.outbox.tracking import RemoteState, Tracking

if TYPE_CHECKING:
    from tocsin.outbox import OutboxMetrics
    from tocsin.services.email_detail import EmailDetail

__all__ = ["outbox_app", "parse_duration", "worker"]

outbox_app = typer.Typer(help="Look into the outbox, retry or purge emails.", no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``2h`` or ``3d``; ``ValueError`` otherwise."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration like 90s, 15m, 2h or 3d")
    return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]


def _duration(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        err.print(f"[red]✗[/] {option}: {exc}")
        raise typer.Exit(2) from None


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _delivery_dict(d: DeliveryView) -> dict[str, Any]:
    shown = dataclasses.asdict(d)
    shown.pop("history")  # the list has none; 'show' lists the attempts
    return {k: _plain(v) for k, v in shown.items()}


def _plain(value: object) -> object:
    return value.value if isinstance(value, Status) else value


@outbox_app.command("list")
def list_command(
    status: Annotated[list[Status] | None, typer.Option("--status", help="Repeatable.")] = None,
    older_than: Annotated[str | None, typer.Option(help="e.g. 1h: queued before that.")] = None,
    newer_than: Annotated[str | None, typer.Option(help="e.g. 1d: queued within that.")] = None,
    recipient: Annotated[str | None, typer.Option(help="Part of the address.")] = None,
    remote: Annotated[
        list[RemoteState] | None,
        typer.Option("--remote", help="The online service's later word; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    data: DataOption = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries (one line per email and recipient), newest first."""
    older, newer = _duration(older_than, "--older-than"), _duration(newer_than, "--newer-than")
    services = open_services(data, database)
    try:
        rows = services.outbox.list(
            statuses=status or (), older_than=older, newer_than=newer,
            recipient=recipient, remote_states=remote or (), limit=limit,
        )  # fmt: skip
    finally:
        services.close()
    if as_json:
        out.print_json(json.dumps([_delivery_dict(d) for d in rows]))
        return
    table = Table("email", "recipient", "status", "tries", "next / done", "reason", "subject")
    for d in rows:
        when = _when(d.next_attempt_at if d.next_attempt_at is not None else d.updated_at)
        shown = f"{d.status.value} → {d.remote.state.value}" if d.remote else d.status.value
        table.add_row(str(d.email_id), d.recipient, shown, str(d.attempts), when,
                      d.last_reason, d.subject)  # fmt: skip
    out.print(table)


def _print_email(detail: EmailDetail) -> None:
    view = detail.email
    out.print(f"[bold]email {view.id}[/]  {escape(view.message_id)}", markup=True)
    out.print(f"subject   {view.subject}", markup=False)
    out.print(f"sender    {view.sender}", markup=False)
    out.print(
        f"queued    {_when(view.created_at)} UTC, priority {view.priority}, {view.size} bytes"
    )
    if detail.event_id:
        out.print(f"event     {detail.event_id}", markup=False)
    for d in view.deliveries:
        out.print(f"\n[bold]{escape(d.recipient)}[/]  {d.status.value}, {d.attempts} attempt(s)")
        if d.attempts:
            out.print(f"  last attempt  {_when(d.updated_at)} UTC")
        if d.status is Status.SENT:
            out.print(f"  sent          {_when(d.updated_at)} UTC")
        if d.status in (Status.QUEUED, Status.SENDING):
            out.print(f"  next attempt  {_when(d.next_attempt_at)} UTC")
        if d.link:
            out.print(f"  link          {d.link}")
        if d.server_reply:
            out.print(f"  server said   {d.server_reply}", markup=False)
        if d.last_reason:
            out.print(
                f"  last error    {d.last_reason} at {d.last_step or '?'}: {d.last_error}",
                markup=False,
            )
        if d.remote is not None:
            _print_remote(d.remote)
        _print_history(d.history)
    if detail.headers:
        out.print("\n[bold]headers[/]")
        for name, value in detail.headers:
            out.print(f"  {name}: {value}", markup=False)


def _print_history(history: Sequence[DeliveryAttempt]) -> None:
    """Each attempt kept (the newest 20), newest first: number, time, verdict, answer."""
    if not history:
        return
    out.print("  attempts (newest first)")
    for a in reversed(history):
        where = f" at {a.step}" if a.step else ""
        via = f" via {a.link}" if a.link else ""
        out.print(
            f"    #{a.attempt:<3} {_when(a.at)} UTC  {a.status.value}{where}{via}", markup=False
        )
        if a.answer:
            out.print(f"         {a.answer}", markup=False)


def _print_remote(remote: Tracking) -> None:
    said = remote.said
    out.print(f"  relay says    {remote.state.value}" + (f": {said}" if said else ""))
    if remote.checked_at is not None:
        out.print(f"  asked         {_when(remote.checked_at)} UTC ({remote.tracking_id})")
    if remote.next_check_at is not None:
        out.print(f"  next question {_when(remote.next_check_at)} UTC")


@outbox_app.command("show")
def show_command(
    email_id: Annotated[int, typer.Argument(help="The email's id (see list).")],
    content: Annotated[bool, typer.Option("--content", help="Print the message too.")] = False,
    data: DataOption = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one email: each recipient's attempts and answers, its headers, its event."""
    from tocsin.services.outbox import EmailNotFound

    services = open_services(data, database)
    try:
        detail = services.outbox.detail(email_id)
        view = services.outbox.show(email_id, content=True) if content else None
    except EmailNotFound as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        services.close()
    body = view.content.decode("utf-8", "replace") if view and view.content else None
    if as_json:
        out.print_json(json.dumps(detail.as_dict() | {"content": body}))
        return
    _print_email(detail)
    if body is not None:
        out.print("\n" + body, markup=False)


@outbox_app.command("retry")
def retry_command(
    email_id: Annotated[int, typer.Argument(help="The email's id (see list).")],
    data: DataOption = None,
    database: DatabaseOption = None,
) -> None:
    """Queue a dead or failed email again (its maximum age starts anew).

    Recipients the online service bounced or gave up on are queued again too.
    """
    from tocsin.services.outbox import EmailNotFound

    services = open_services(data, database)
    try:
        count = services.outbox.retry(email_id)
    except EmailNotFound as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        services.close()
    if count == 0:
        out.print(
            "Nothing to retry: no recipient of this email is dead or failed, "
            "nor bounced by the online service."
        )
    else:
        out.print(f"[green]✓[/] {count} recipient(s) queued again.")


@outbox_app.command("purge")
def purge_command(
    older_than_days: Annotated[float, typer.Option("--older-than-days", min=0)],
    status: Annotated[list[Status] | None, typer.Option("--status", help="Default: sent.")] = None,
    data: DataOption = None,
    database: DatabaseOption = None,
) -> None:
    """Delete finished deliveries (sent by default) older than the given number of days."""
    services = open_services(data, database)
    try:
        count = services.outbox.purge(
            older_than_days=older_than_days, statuses=status or (Status.SENT,)
        )
    except ValueError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    out.print(f"[green]✓[/] {count} deliveries purged.")


async def _share(metrics: OutboxMetrics, path: Path, stop: asyncio.Event) -> None:
    """Write the engine's counts to ``path`` every few seconds until ``stop``, for
    serve's /metrics (the last write comes after the engine stopped: see worker())."""
    from tocsin.outbox.metrics import SHARE_INTERVAL

    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SHARE_INTERVAL)
        if stop.is_set():
            return
        _publish(metrics, path)


def _publish(metrics: OutboxMetrics, path: Path) -> None:
    from tocsin.outbox.metrics import SharedCounts

    try:
        SharedCounts.publish(metrics, path)
    except OSError as exc:
        logging.getLogger("tocsin").warning("cannot write %s for serve: %s", path, exc)


async def _stop_without(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once the process ``parent`` is gone (a delivery process of 'serve',
    whose serve was killed: it is then the child of another process)."""
    while not stop.is_set():
        if os.getppid() != parent:
            logging.getLogger("tocsin").warning("serve (pid %d) is gone: stopping", parent)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def worker(
    data: DataOption = None,
    database: DatabaseOption = None,
    connections: Annotated[int, typer.Option(min=1, max=64, help="SMTP sessions.")] = 2,
    max_age: Annotated[str, typer.Option(help="Give up after this long, e.g. 24h.")] = "24h",
    log_format: LogFormatOption = LogFormat.TEXT,
    log_level: LogLevelOption = "info",
    stop_with_parent: Annotated[
        bool, typer.Option(hidden=True, help="Stop when the parent process is gone.")
    ] = False,
    metrics_file: Annotated[
        Path | None, typer.Option(hidden=True, help="Write the send counts here for serve.")
    ] = None,
) -> None:
    """Run the delivery engine alone ('serve' runs it too), until SIGTERM or Ctrl-C."""
    from tocsin.outbox import (
        DeliveryEngine,
        EngineOptions,
        OutboxMetrics,
        RetryPolicy,
        default_transport_factory,
    )
    from tocsin.outbox.tracker import Tracker
    from tocsin.services.escalation import run_escalation
    from tocsin.services.startup import exposed_database, permission_warning

    start_logging(log_format, log_level)
    age = _duration(max_age, "--max-age")
    assert age is not None
    services = open_services(data, database)
    warning = permission_warning(exposed_database(services))
    if warning:
        logging.getLogger("tocsin").warning("%s", warning)

    def paused(problem: ConfigurationProblem) -> None:
        err.print(f"[yellow]! delivery paused:[/] {problem}")

    options = EngineOptions(
        max_connections=connections, retry=RetryPolicy(max_age=age), state_dir=services.data
    )
    from tocsin.services.failover_notice import failover_notifier

    metrics = OutboxMetrics() if metrics_file is not None else None  # counted for serve
    engine = DeliveryEngine(
        services.store,
        services.settings.load,
        settings_version=services.failover.fingerprint,  # the email settings and the chain
        failover_source=services.failover.load,
        on_failover=failover_notifier(services),
        options=options,
        transport_factory=default_transport_factory(
            connections, refresh_keeper=services.failover.refresh_token_keeper
        ),
        on_pause=paused,
        metrics=metrics,
    )

    tracker = Tracker(services.store, services.settings.load)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Said once SIGTERM stops it cleanly: whoever waits for this line (a supervisor,
        # a script) may stop it at once, and a signal before the handlers killed it.
        out.print(f"Tocsin worker {engine.owner} delivering (data: {services.data})")
        watch = [_stop_without(os.getppid(), stop)] if stop_with_parent else []
        if metrics is not None and metrics_file is not None:
            watch.append(_share(metrics, metrics_file, stop))
        # The online service's later word on mail it took, beside the deliveries, and the
        # escalation timers (several workers: each timer is claimed by one).
        await asyncio.gather(
            engine.run(stop), tracker.run(stop), run_escalation(services.escalation, stop), *watch
        )
        if metrics is not None and metrics_file is not None:
            _publish(metrics, metrics_file)  # the final counts, after the sends in flight

    from tocsin.deploy.event_loop import run_service

    try:
        run_service(run())  # on uvloop, as serve's own engine runs
    finally:
        services.close()
    sys.exit(0)
