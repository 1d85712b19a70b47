"""``tocsin relay …`` (the online service's operator) and ``tocsin online …`` (a site).

Registered by :mod:`tocsin.cli.commands` (``relay`` and ``online``); ``python -m
tocsin.relay`` runs the relay part alone.  Exit status 0 on success, 1 when an
operation failed, 2 for refused input.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tocsin.cli.secrets import read_secret
from tocsin.cli.support import DataOption, LangOption, err, fail, out, refuse_database_password
from tocsin.errors import ConfigError, DeliveryError
from tocsin.i18n import translate

__all__ = ["online_app", "relay_app"]

relay_app = typer.Typer(
    help="The online service: the relay that sites send their email through.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
device_app = typer.Typer(
    help="Devices (sites) that may send through this relay.", no_args_is_help=True
)
relay_app.add_typer(device_app, name="device")
online_app = typer.Typer(
    help="This installation's link to the online service.", no_args_is_help=True
)


DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        envvar="TOCSIN_RELAY_DATABASE",
        callback=refuse_database_password,
        help="postgresql:// URL, or an SQLite file (a password: in the environment variable).",
    ),
]
SchemaOption = Annotated[
    str | None,
    typer.Option(
        "--schema", envvar="TOCSIN_RELAY_SCHEMA", hidden=True, help="PostgreSQL schema (tests)."
    ),
]
DEFAULT_DB = "tocsin-relay/relay.db"


def _service(database: str, schema: str | None, **config: object) -> object:
    from tocsin.relay.config import RelayConfig
    from tocsin.relay.service import RelayService
    from tocsin.relay.store import open_relay_store

    try:
        store = open_relay_store(database, schema=schema)
    except Exception as exc:  # a store that cannot be opened: say why, no traceback
        err.print(f"[red]✗[/] cannot open the relay database: {escape(str(exc))}")
        raise typer.Exit(2) from None
    return RelayService(store, RelayConfig(**config))  # type: ignore[arg-type]


# ---------------------------------------------------------------- devices


@device_app.command("add")
def device_add(
    name: Annotated[str, typer.Argument(help="The device's name, e.g. site-berlin-1.")],
    sender: Annotated[list[str], typer.Option(help="Allowed sender address or @domain.")],
    max_size: Annotated[int, typer.Option(min=1024, help="Largest message in bytes.")] = 1048576,
    quota: Annotated[int, typer.Option(min=1, help="Emails per hour.")] = 600,
    burst: Annotated[int, typer.Option(min=1, help="Emails at once.")] = 60,
    database: DatabaseOption = DEFAULT_DB,
    schema: SchemaOption = None,
) -> None:
    """Create a device. Its credential is printed once; only its hash is stored."""
    from tocsin.relay.service import RelayService

    service = _service(database, schema)
    assert isinstance(service, RelayService)
    try:
        credential, device = service.add_device(
            name, sender, max_size=max_size, quota_per_hour=quota, burst=burst
        )
    except ValueError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        service.store.close()
    err.print(
        f"Device '{device.name}' may send as {' '.join(device.policy.senders)}. "
        "Copy the credential now: it is not shown again."
    )
    out.print(credential)


@device_app.command("list")
def device_list(
    database: DatabaseOption = DEFAULT_DB,
    schema: SchemaOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List devices (never their credentials)."""
    from tocsin.relay.service import RelayService

    service = _service(database, schema)
    assert isinstance(service, RelayService)
    try:
        devices = service.list_devices()
    finally:
        service.store.close()
    rows = [
        {
            "name": d.name,
            "active": d.active,
            "senders": list(d.policy.senders),
            "max_size": d.policy.max_size,
            "quota_per_hour": d.policy.quota_per_hour,
            "burst": d.policy.burst,
            "last_used_at": d.last_used_at,
        }
        for d in devices
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for r in rows:
        state = "active" if r["active"] else "revoked"
        senders = " ".join(r["senders"])  # type: ignore[arg-type]
        out.print(f"{r['name']:<24} {state:<8} {r['quota_per_hour']:>6}/h  {senders}")


@device_app.command("revoke")
def device_revoke(
    name: Annotated[str, typer.Argument(help="The device's name.")],
    database: DatabaseOption = DEFAULT_DB,
    schema: SchemaOption = None,
) -> None:
    """Revoke a device's credential; its next request is refused (401)."""
    from tocsin.relay.service import RelayService

    service = _service(database, schema)
    assert isinstance(service, RelayService)
    try:
        done = service.revoke_device(name)
    finally:
        service.store.close()
    if not done:
        err.print(f"[red]✗[/] No active device '{name}' (see 'tocsin relay device list').")
        raise typer.Exit(2)
    out.print(f"[green]✓ Device '{name}' revoked.[/]")


@relay_app.command("dkim-keygen")
def dkim_keygen(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the private key.")],
    domain: Annotated[str, typer.Option(help="The signing domain.")],
    selector: Annotated[str, typer.Option(help="The DKIM selector.")] = "tocsin",
) -> None:
    """Make a DKIM key (mode 0600) and print the DNS TXT record to publish."""
    from tocsin.relay.dkim_signer import DKIMKey, generate_private_key

    if out_path.exists():
        err.print(f"[red]✗[/] {out_path} exists; not overwritten.")
        raise typer.Exit(2)
    pem = generate_private_key()
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    key = DKIMKey(domain, selector, pem)
    out.print(f'{key.record_name}. IN TXT "{key.dns_record()}"')


# ---------------------------------------------------------------- serve


def _routes(pairs: list[str]) -> dict[str, tuple[object, ...]]:
    from tocsin.relay.mx import parse_destination

    routes: dict[str, tuple[object, ...]] = {}
    for pair in pairs:
        domain, sep, target = pair.partition("=")
        try:
            if not sep or not domain.strip():
                raise ValueError("use DOMAIN=HOST[:PORT]")
            routes[domain.strip().lower()] = tuple(parse_destination(t) for t in target.split(","))
        except ValueError as exc:
            err.print(f"[red]✗[/] --route {pair}: {exc}")
            raise typer.Exit(2) from None
    return routes


@relay_app.command("serve")
def serve(
    database: DatabaseOption = DEFAULT_DB,
    schema: SchemaOption = None,
    domain: Annotated[
        str, typer.Option(envvar="TOCSIN_RELAY_DOMAIN", help="The relay's mail domain.")
    ] = "localhost",
    hostname: Annotated[
        str,
        typer.Option(envvar="TOCSIN_RELAY_HOSTNAME", help="EHLO name (default: this host's FQDN)."),
    ] = "",
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API.")] = True,
    api_host: Annotated[str, typer.Option(help="API address.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="API port (0: any free one).")] = 8443,
    smtp: Annotated[bool, typer.Option("--smtp/--no-smtp", help="SMTP submission.")] = True,
    smtp_host: Annotated[str, typer.Option(help="Submission address.")] = "127.0.0.1",
    smtp_port: Annotated[int, typer.Option(help="Submission port (0: any).")] = 587,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Deliver.")] = True,
    tls_cert: Annotated[
        str, typer.Option(envvar="TOCSIN_RELAY_TLS_CERT", help="Certificate chain (PEM).")
    ] = "",
    tls_key: Annotated[
        str, typer.Option(envvar="TOCSIN_RELAY_TLS_KEY", help="Private key (PEM).")
    ] = "",
    dkim_key: Annotated[
        str, typer.Option(envvar="TOCSIN_RELAY_DKIM_KEY", help="DKIM private key (PEM).")
    ] = "",
    dkim_selector: Annotated[str, typer.Option(help="DKIM selector.")] = "tocsin",
    sign_domain: Annotated[
        list[str] | None, typer.Option(help="More domains the DKIM key signs for (repeatable).")
    ] = None,
    route: Annotated[
        list[str] | None, typer.Option(help="DOMAIN=HOST[:PORT] instead of its MX (repeatable).")
    ] = None,
    smarthost: Annotated[str, typer.Option(help="HOST[:PORT]: deliver all mail there.")] = "",
    smarthost_user: Annotated[str, typer.Option(help="Smarthost login.")] = "",
    mx_ca_file: Annotated[str, typer.Option(help="Also trust this CA for MX certificates.")] = "",
    connections: Annotated[int, typer.Option(min=1, max=512, help="Parallel sends.")] = 16,
    destination_rate: Annotated[
        float, typer.Option(min=0.01, help="Messages per second to one MX host (per worker).")
    ] = 20.0,
    destination_connections: Annotated[
        int, typer.Option(min=1, max=64, help="Connections to one MX host (per worker).")
    ] = 2,
    dns_server: Annotated[
        list[str] | None,
        typer.Option(help="HOST[:PORT] of a DNS server for MX lookups (default: the system's)."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TOCSIN_RELAY_STATE_DIR",
            help="Per-host directory for the worker's lock, so a restart takes back a killed "
            "worker's messages at once (default: the SQLite database's directory).",
        ),
    ] = None,
    shutdown_grace: Annotated[
        float, typer.Option(min=0, max=300, help="Seconds requests in flight get on stop.")
    ] = 10.0,
) -> None:
    """Run the relay: HTTPS API, SMTP submission (STARTTLS + AUTH) and delivery worker.

    One process does all on SQLite.  To scale, run API processes (--no-worker) and
    worker processes (--no-api --no-smtp) on one PostgreSQL database.
    """
    import asyncio

    from tocsin.relay.config import DeliveryOptions, RelayConfig, Smarthost
    from tocsin.relay.dkim_signer import DKIMKey
    from tocsin.relay.mx import parse_destination
    from tocsin.relay.server import Listen, ServeOptions, serve_relay
    from tocsin.relay.service import RelayService
    from tocsin.relay.store import open_relay_store
    from tocsin.secret import Secret

    if (
        (api or smtp)
        and not (tls_cert and tls_key)
        and (smtp or api_host not in ("127.0.0.1", "::1"))
    ):
        err.print(
            "[red]✗[/] --tls-cert and --tls-key are needed (HTTPS and STARTTLS), "
            "unless only the API runs on loopback behind a reverse proxy."
        )
        raise typer.Exit(2)
    try:
        keys = (
            tuple(
                DKIMKey.load(dkim_key, domain=d, selector=dkim_selector)
                for d in (domain, *(sign_domain or ()))
            )
            if dkim_key
            else ()
        )
    except ConfigError as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    relay_host = None
    if smarthost:
        target = parse_destination(smarthost, 587)
        password = os.environ.get("TOCSIN_RELAY_SMARTHOST_PASSWORD", "")
        relay_host = Smarthost(
            host=target.host,
            port=target.port,
            username=smarthost_user,
            password=Secret(password) if password else None,
        )
    nameservers, dns_port = _dns_servers(dns_server or [])
    delivery = DeliveryOptions(
        nameservers=nameservers,
        dns_port=dns_port,
        ca_file=mx_ca_file,
        routes=_routes(route or []),  # type: ignore[arg-type]
        smarthost=relay_host,
        rate_per_destination=destination_rate,
        burst_per_destination=max(1, int(destination_rate * 2)),
        connections_per_destination=destination_connections,
    )
    config = RelayConfig(
        hostname=hostname or socket.getfqdn(), domain=domain, dkim=keys, delivery=delivery
    )
    try:
        store = open_relay_store(database, schema=schema)
    except Exception as exc:
        err.print(f"[red]✗[/] cannot open the relay database: {exc}")
        raise typer.Exit(2) from None
    from tocsin.outbox import EngineOptions
    from tocsin.relay.worker import DEFAULT_RETRY

    options = ServeOptions(
        api=Listen(host=api_host, port=api_port) if api else None,
        smtp=Listen(host=smtp_host, port=smtp_port) if smtp else None,
        tls_certfile=tls_cert,
        tls_keyfile=tls_key,
        worker=worker,
        engine=EngineOptions(max_connections=connections, retry=DEFAULT_RETRY),
        shutdown_grace=shutdown_grace,
        state_dir=state_dir,
    )
    service = RelayService(store, config)
    try:
        asyncio.run(
            serve_relay(
                service, options, worker_store=lambda: open_relay_store(database, schema=schema)
            )
        )
    finally:
        store.close()


def _dns_servers(values: list[str]) -> tuple[tuple[str, ...], int]:
    """The --dns-server addresses and their one port; exits 2 with the reason if bad."""
    from tocsin.relay.mx import parse_destination

    found = []
    for value in values:
        try:
            target = parse_destination(value, 53)
            ipaddress.ip_address(target.host)
        except ValueError:
            err.print(f"[red]✗[/] --dns-server {value!r}: give an IP address, e.g. 192.0.2.53:53.")
            raise typer.Exit(2) from None
        found.append(target)
    if len({t.port for t in found}) > 1:
        err.print("[red]✗[/] --dns-server: all DNS servers must use the same port.")
        raise typer.Exit(2)
    return tuple(t.host for t in found), found[0].port if found else 53


# ---------------------------------------------------------------- the appliance side


@online_app.command("enroll")
def enroll(
    url: Annotated[str, typer.Argument(help="The relay, e.g. https://relay.example.com")],
    token: Annotated[
        str | None,
        typer.Argument(hidden=True, help="Refused: the credential is asked for instead."),
    ] = None,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the device credential from stdin.")
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="Read the device credential from this file (mode 600)."),
    ] = None,
    ca_file: Annotated[str, typer.Option(help="Trust this CA for the relay (private CA).")] = "",
    data: DataOption = None,
    language: LangOption = "en",
) -> None:
    """Check URL and credential with the relay, then switch email to the online service.

    The device credential from the operator is asked for without echo, or read from
    stdin (--stdin, or a pipe) or a file only you can read (--token-file): never as an
    argument, where it would show in the process list and the shell history.
    """
    if token is not None:
        fail(translate("secret_as_argument", language, command="tocsin online enroll URL"))
    token = read_secret("Device credential: ", stdin=stdin, file=token_file, language=language)
    import asyncio

    from tocsin.services.context import Services
    from tocsin.transports.online import fetch_device

    try:
        info = asyncio.run(fetch_device(url, token, ca_file=ca_file))
    except (ConfigError, DeliveryError) as exc:
        err.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1 if isinstance(exc, DeliveryError) else 2) from None
    services = Services.open(data)
    try:
        changes: dict[str, object] = {
            "transport": "online",
            "relay_url": url,
            "device_id": info.name,
            "device_credential": token,
        }
        if ca_file:
            changes["ca_file"] = ca_file
        current = services.settings.load()
        addresses = [s for s in info.senders if not s.startswith("@")]
        if addresses and not current.sender_address:
            changes["sender_address"] = addresses[0]
        settings, report, saved = services.settings.update(changes)
    finally:
        services.close()
    for issue in report.errors:
        err.print(f"[red]✗[/] {issue.field}: {issue.text()}")
    if not saved:
        raise typer.Exit(2)
    out.print(
        f"[green]✓ Enrolled as device '{info.name}' with {url}.[/] "
        f"Allowed senders: {' '.join(info.senders)}"
    )
    if not settings.enabled:
        out.print("Email is still disabled: tocsin settings set enabled=true")


@online_app.command("status")
def status(data: DataOption = None) -> None:
    """Show the enrolment and whether the relay answers right now."""
    import asyncio
    import time

    from tocsin.services.context import Services
    from tocsin.settings import TransportKind
    from tocsin.transports.online import OnlineTransport

    services = Services.open(data)
    try:
        settings = services.settings.load()
    finally:
        services.close()
    if not settings.relay_url or not settings.device_credential:
        err.print("[red]✗[/] Not enrolled: tocsin online enroll URL")
        raise typer.Exit(1)
    out.print(f"relay      {settings.relay_url}\ndevice     {settings.device_id}")
    out.print(
        f"transport  {settings.transport.value}"
        + ("" if settings.transport is TransportKind.ONLINE else "  (not in use)")
    )

    async def probe() -> object:
        transport = OnlineTransport(settings)
        try:
            return await transport.device()
        finally:
            await transport.aclose()

    started = time.perf_counter()
    try:
        info = asyncio.run(probe())
    except (ConfigError, DeliveryError) as exc:
        err.print(f"[red]✗ relay not usable:[/] {exc}")
        raise typer.Exit(1) from None
    elapsed = (time.perf_counter() - started) * 1000
    senders = " ".join(getattr(info, "senders", ()))
    out.print(f"[green]✓ reachable[/] ({elapsed:.0f} ms); allowed senders: {senders}")
    sys.exit(0)
