"""``tocsin settings discover ADDRESS``: find SMTP settings from the sender address.

Prints the proposals (best first, each with where it came from and what else is
needed) and what every source gave; saves nothing (``tocsin settings set`` does, when
the admin chooses).  Exit status 0 when settings were found, 1 when none were, 2 for an
address that is not one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from tocsin.cli.support import JsonOption, LangOption, err, fail, out

if TYPE_CHECKING:
    from tocsin.providers.discovery import DiscoveryOptions

__all__ = ["settings_discover"]

_MARK = {
    "found": "[green]✓[/]",
    "nothing": "[dim]–[/]",
    "failed": "[red]✗[/]",
    "timeout": "[yellow]⌛[/]",
}


def _nameserver(text: str) -> tuple[str, int]:
    host, port = text, 53
    if text.count(":") == 1:  # an IPv4 address with a port; IPv6 takes the default port
        host, _, number = text.partition(":")
        if not number.isdigit() or not 0 < int(number) < 65536:
            fail(f"--nameserver: '{escape(text)}' is not ADDRESS or ADDRESS:PORT")
        port = int(number)
    return host, port


def _options(
    nameservers: list[str], ca_file: Path | None, https_port: int, timeout: float
) -> DiscoveryOptions:
    from tocsin.providers.discovery import DiscoveryOptions

    parsed = [_nameserver(n) for n in nameservers]
    if len({port for _, port in parsed}) > 1:
        fail("--nameserver: give every server the same port")
    if ca_file is not None and not ca_file.is_file():
        fail(f"--ca-file: {escape(str(ca_file))} is not a readable file")
    return DiscoveryOptions(
        nameservers=tuple(host for host, _ in parsed),
        dns_port=parsed[0][1] if parsed else 53,
        https_port=https_port,
        ca_file=str(ca_file) if ca_file else None,
        source_timeout=timeout,
        total_timeout=timeout + 1.0,
    )


def _print(found: dict[str, Any]) -> None:
    out.print(escape(found["message"]))
    for number, proposal in enumerate(found["proposals"], start=1):
        auth = proposal["auth"] or "?"
        if proposal["oauth_provider"]:
            auth += f" ({proposal['oauth_provider']})"
        provider = f" — {escape(proposal['provider'])}" if proposal["provider"] else ""
        out.print(
            f"[bold]{number}. {escape(proposal['host'])}[/] port {proposal['port']} "
            f"{proposal['encryption']}, sign-in {auth}{provider}"
        )
        out.print(f"   {escape(proposal['source_label'])}: {escape(proposal['origin'])}")
        for need in proposal["needs"]:
            out.print(f"   → {escape(need)}")
    out.print("")
    for source in found["sources"]:
        mark = _MARK.get(source["status"], "?")
        out.print(f"{mark} {escape(source['source_label'])}: {escape(source['text'])}")
    if found["proposals"]:
        best = found["proposals"][0]
        out.print(
            "\nTo use the first: tocsin settings set "
            f"host={best['host']} port={best['port']} encryption={best['encryption']}"
        )


def settings_discover(
    address: Annotated[str, typer.Argument(help="The sender address, e.g. alarms@example.com.")],
    language: LangOption = "en",
    as_json: JsonOption = False,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            "--nameserver",
            help="DNS server to ask (ADDRESS[:PORT]), repeatable; default: the system's.",
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file", help="CA certificates to trust for HTTPS (default: the system's)."
        ),
    ] = None,
    https_port: Annotated[int, typer.Option("--https-port", min=1, max=65535, hidden=True)] = 443,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.5, max=30, help="Seconds each source may take.")
    ] = 4.0,
) -> None:
    """Find the SMTP settings of a sender address (autoconfig, DNS SRV, MX); saves nothing."""
    import asyncio

    from tocsin.address import InvalidAddress
    from tocsin.providers.discovery import Discovery

    options = _options(nameserver or [], ca_file, https_port, timeout)
    try:
        found = asyncio.run(Discovery(options).discover(address))
    except InvalidAddress as exc:
        err.print(f"[red]✗[/] ADDRESS: {escape(exc.text(language))}")
        raise typer.Exit(2) from None
    data = found.as_dict(language)
    if as_json:
        out.print_json(json.dumps(data))
    else:
        _print(data)
    if not found.found:
        raise typer.Exit(1)
