"""``tocsin backup`` and ``tocsin restore`` (a face over :mod:`tocsin.services.backup`).

Registered by :mod:`tocsin.cli`.  Exit status 0 on success, 1 when the operation failed
(a wrong passphrase, a damaged backup, a newer schema, the copy failed), 2 for refused
input (passphrases that differ, data in place without ``--force``, the service running,
PostgreSQL).  A passphrase is never taken on the command line: it is asked twice without
echo, or read from ``--passphrase-file``.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from tocsin.cli_support import DatabaseOption, DataOption, err, out
from tocsin.errors import SchemaError
from tocsin.services.backup import BackupRefused, make_backup, restore_backup
from tocsin.store.backup import BackupError

__all__ = ["backup", "restore"]

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from the first line of this file (else it is asked).",
    ),
]
WithoutKey = Annotated[
    bool, typer.Option("--without-key", help="Leave the secret key out (no passphrase).")
]
MIN_PASSPHRASE = 8


def _passphrase(file: Path | None, *, twice: bool) -> str:
    if file is not None:
        try:
            return file.read_text("utf-8").splitlines()[0] if file.stat().st_size else ""
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]✗[/] --passphrase-file: {exc}")
            raise typer.Exit(2) from None
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
    """Back up the database and the secret key (sealed with a passphrase) into FILE.

    Safe while the service runs: the database is copied as of one commit.  The key is
    not in the database; without it the stored SMTP password is lost, so it goes into the
    backup, sealed, unless --without-key.
    """
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
            "from the data directory, or the stored SMTP password is lost."
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
    if not report.secrets_readable:
        err.print(
            "[yellow]![/] The stored SMTP password cannot be decrypted with the key in "
            "place: set it again (tocsin settings password)."
        )
