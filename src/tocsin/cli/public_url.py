"""``tocsin settings public-url``: show or set the address emails link to (issue 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from tocsin.cli.support import DataOption, fail, out, run
from tocsin.i18n import lookup

if TYPE_CHECKING:
    from tocsin.services.context import Services

__all__ = ["settings_public_url"]


def settings_public_url(
    url: Annotated[
        str | None,
        typer.Argument(help="e.g. https://tocsin.example.com; leave out to show it."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove it: emails carry no links.")
    ] = False,
    data: DataOption = None,
) -> None:
    """Show or set the public address (URL) recipients' browsers reach Tocsin at.

    Emails link to it, and alarm emails carry an "Acknowledge" link built on it.
    """
    from tocsin.ack.public_url import PublicUrlProblem

    if url is not None and clear:
        fail("Give a URL or --clear, not both.")
    if url is None and not clear:
        current, source = run(data, lambda s: (s.public_url.get(), s.public_url.source()))
        if current is None:
            out.print("No public address is set: emails carry no links.")
        else:
            where = " (from $TOCSIN_PUBLIC_URL)" if source == "environment" else ""
            out.print(f"{escape(current)}{where}")
        return

    def work(s: Services) -> str | None:
        return s.public_url.save("" if clear else url or "")

    try:
        warning = run(data, work)
    except PublicUrlProblem as exc:
        fail(lookup(exc.code, "en", "web", {}))
    if clear:
        out.print("Public address removed: emails carry no links from now on.")
        return
    out.print(f"[green]✓ Public address saved[/]: {escape(url or '')}")
    if warning:
        out.print(f"  [yellow]Warning:[/] {lookup(warning, 'en', 'web', {})}")
