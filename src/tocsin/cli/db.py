"""The database from the shell (a face): ``tocsin db status|upgrade`` (its schema
version), ``tocsin backup`` and ``tocsin restore``.

Registered by :mod:`tocsin.cli.commands`.  Exit status 0 on success; 1 when the
operation failed (the database cannot be opened or is newer than this Tocsin, a
migration failed, a wrong passphrase, a damaged backup); 2 for refused input
(passphrases that differ, data in place without ``--force``, the service running,
PostgreSQL).  A passphrase is never taken on the command line: it is asked without
echo, or read from ``--passphrase-file``.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tocsin.cli.secrets import read_private_file
from tocsin.cli.support import DatabaseOption, DataOption, JsonOption, err, out
from tocsin.errors import SchemaError

if TYPE_CHECKING:
    from tocsin.services.database import DatabaseStatus
    from tocsin.store.migrations import Applied, SchemaState

__all__ = ["backup", "db_app", "restore"]

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
    from tocsin.services.database import schema_status

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
    from tocsin.services.database import upgrade_database

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


# ---------------------------------------------------------------- backups

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from the first line of this file (else it is asked).",
    ),
]
WithoutKey = Annotated[
    bool, typer.Option("--without-key", help="Leave the keys out (no passphrase).")
]
MIN_PASSPHRASE = 8


def _passphrase(file: Path | None, *, twice: bool) -> str:
    if file is not None:
        try:
            text = read_private_file(file)  # a passphrase others can read protects nothing
        except UnicodeDecodeError as exc:
            err.print(f"[red]✗[/] --passphrase-file: {exc}")
            raise typer.Exit(2) from None
        return text.splitlines()[0] if text else ""
    if not sys.stdin.isatty():
        err.print("[red]✗[/] No terminal to ask the passphrase: give --passphrase-file.")
        raise typer.Exit(2)
    phrase = getpass.getpass("Passphrase for the secret key: ")
    if twice and getpass.getpass("Again: ") != phrase:
        err.print("[red]✗[/] The two entries differ; nothing was written.")
        raise typer.Exit(2)
    return phrase


def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write.")],
    data: DataOption = None,
    database: DatabaseOption = None,
    passphrase_file: PassphraseFile = None,
    without_key: WithoutKey = False,
) -> None:
    """Back up the database and the keys (sealed with a passphrase) into FILE.

    Safe while the service runs: the database is copied as of one commit.  The keys are
    not in the database: without the secret key the stored SMTP password is lost, without
    the acknowledgement key the links in emails already sent stop working; so they go
    into the backup, sealed, unless --without-key.
    """
    from tocsin.services.backup import BackupRefused, make_backup

    phrase = None if without_key else _passphrase(passphrase_file, twice=True)
    if phrase is not None and len(phrase) < MIN_PASSPHRASE:
        err.print(f"[red]✗[/] The passphrase needs at least {MIN_PASSPHRASE} characters.")
        raise typer.Exit(2)
    try:
        manifest = make_backup(file, data=data, passphrase=phrase, database_url=database)
    except BackupRefused as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # the copy failed: say why, no traceback
        err.print(f"[red]✗[/] the backup failed: {exc}")
        raise typer.Exit(1) from None
    schema = ", ".join(f"{k} {v}" for k, v in manifest["schema"].items())
    out.print(f"[green]✓[/] Backup written to {file} (schema {schema}).")
    if without_key:
        out.print(
            "[yellow]![/] The secret key is NOT in this backup: keep a copy of secret.key "
            "from the data directory, or the stored SMTP password is lost (and of ack.key, "
            "or the Acknowledge links in emails already sent stop working)."
        )


def restore(
    file: Annotated[Path, typer.Argument(help="The backup file to restore.")],
    data: DataOption = None,
    database: DatabaseOption = None,
    passphrase_file: PassphraseFile = None,
    without_key: WithoutKey = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the database and key in place.")
    ] = False,
) -> None:
    """Restore a backup into the data directory; the service must be stopped.

    Refuses to replace an existing database or key without --force.  Emails that were
    waiting at backup time are sent when the service starts.
    """
    from tocsin.services.backup import BackupRefused, restore_backup
    from tocsin.store.backup import BackupError

    phrase = None if without_key else _passphrase(passphrase_file, twice=False)
    try:
        report = restore_backup(
            file, data=data, passphrase=phrase, force=force, database_url=database
        )
    except BackupRefused as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    except (BackupError, SchemaError) as exc:
        err.print(f"[red]✗[/] {exc}; nothing was written.")
        raise typer.Exit(1) from None
    made = report.manifest.get("created_at", "?")
    out.print(f"[green]✓[/] Restored the backup of {made} into {report.database}.")
    out.print(f"  {report.queued} emails wait to be sent; they go out when Tocsin starts.")
    if report.ack_key == "new":
        out.print(
            "[yellow]![/] This backup holds no acknowledgement key (it was made before "
            "backups kept it): a new key was made, so the Acknowledge links in emails sent "
            "before no longer work; acknowledge those alarms on the web page."
        )
    if not report.secrets_readable:
        err.print(
            "[yellow]![/] The stored SMTP password cannot be decrypted with the key in "
            "place: set it again (tocsin settings password)."
        )
