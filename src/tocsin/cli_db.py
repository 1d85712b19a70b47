"""``tocsin db status|upgrade``: the database's schema version (a face).

Registered by :mod:`tocsin.cli`.  Exit status 0 on success, 1 when the database cannot
be opened, is newer than this Tocsin, or a migration failed.
"""

from __future__ import annotations

import json

import typer

from tocsin.cli_support import DatabaseOption, DataOption, JsonOption, err, out
from tocsin.errors import SchemaError
from tocsin.services.database import DatabaseStatus, schema_status, upgrade_database
from tocsin.store.migrations import Applied, SchemaState

__all__ = ["db_app"]

db_app = typer.Typer(
    help="The database's schema version: show it, or upgrade it.", no_args_is_help=True
)


def _state_line(state: SchemaState) -> str:
    name = state.component.name
    if state.too_new:
        return (
            f"[red]✗[/] {name}: version {state.current}, newer than this Tocsin knows "
            f"({state.known}): upgrade Tocsin"
        )
    if state.baseline:
        return (
            f"[yellow]![/] {name}: tables of version 1 without a recorded version (made "
            f"before versions were recorded); the next start records them, newest is {state.known}"
        )
    if state.pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in state.pending)
        return f"[yellow]![/] {name}: version {state.current} of {state.known}; pending: {names}"
    return f"[green]✓[/] {name}: version {state.current}, up to date"


_HISTORY = ("version", "name", "applied_at", "applied_by")


def _status_dict(status: DatabaseStatus) -> dict[str, object]:
    schemas = [
        {
            "component": s.component.name,
            "current": s.current,
            "known": s.known,
            "pending": [m.version for m in s.pending],
            "baseline": s.baseline,
            "history": [dict(zip(_HISTORY, h, strict=True)) for h in s.history],
        }
        for s in status.states
    ]
    return {"database": status.location, "exists": status.exists, "schemas": schemas}


def _print_status(status: DatabaseStatus, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(_status_dict(status)))
        return
    out.print(f"database: {status.location}")
    if not status.exists:
        out.print("no database yet: the first start (or tocsin db upgrade) makes it")
    for state in status.states:
        out.print(_state_line(state))
        for version, name, applied_at, applied_by in state.history:
            out.print(f"    {version:04d}_{name}  {applied_at}  {applied_by}")


@db_app.command("status")
def db_status(
    data: DataOption = None, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Show the schema version of the database and the newest this Tocsin knows.

    Changes nothing.  Exit status 1 when a newer Tocsin wrote the database.
    """
    try:
        status = schema_status(data, database)
    except Exception as exc:  # a store that cannot be opened: say why, no traceback
        err.print(f"[red]✗[/] cannot open the database: {exc}")
        raise typer.Exit(1) from None
    _print_status(status, as_json)
    if any(s.too_new for s in status.states):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(data: DataOption = None, database: DatabaseOption = None) -> None:
    """Apply the pending migrations now, each in its own transaction.

    Every start does this too; run it to upgrade at a moment of your choosing (stop
    every tocsin serve and tocsin worker on the database first).
    """

    def applied(step: Applied) -> None:
        how = " (baseline: the tables were there)" if step.baseline else ""
        out.print(
            f"[green]✓[/] {step.component.name} {step.migration.version:04d}_"
            f"{step.migration.name}{how}  {step.seconds:.2f} s"
        )

    try:
        status = upgrade_database(data, database, on_applied=applied)
    except SchemaError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # a migration that failed was rolled back: say why
        err.print(f"[red]✗[/] the upgrade failed (the failed step was rolled back): {exc}")
        raise typer.Exit(1) from None
    versions = ", ".join(f"{s.component.name} {s.current}" for s in status.states)
    out.print(f"Up to date: {versions} ({status.location}).")
