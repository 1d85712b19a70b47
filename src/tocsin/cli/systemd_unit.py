"""``tocsin systemd-unit``: the systemd unit of this installation, and the listening options
it shares with ``tocsin serve`` (:mod:`tocsin.cli.serve`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tocsin.cli.support import err

__all__ = ["HostOption", "PortOption", "systemd_unit"]

HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


def systemd_unit(host: HostOption = "127.0.0.1", port: PortOption = 8025) -> None:
    """Print the systemd unit for this installation (tocsin user, /var/lib/tocsin, hardened).

    Install: tocsin systemd-unit > /etc/systemd/system/tocsin.service
    """
    from tocsin.deploy.systemd import unit_text

    try:
        text = unit_text(host=host, port=port)
    except ValueError as exc:
        err.print(f"[red]✗[/] --host: {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(text)
